"""The runner's settings, and the one rule that says what a grade counts as."""

from __future__ import annotations

import pytest

from harness.errors import ParameterError
from harness.judging.settings import JudgeSettings, verdict
from harness.machinery.kinds import KINDS


def test_not_attempted_counts_as_incorrect_by_default_and_is_left_out_under_exclude() -> None:
    grades = ["correct", "incorrect", "not_attempted", None]
    assert [verdict(g) for g in grades] == [True, False, False, None]
    assert [verdict(g, "exclude") for g in grades] == [True, False, None, None]


def test_an_unknown_policy_is_one_clear_error() -> None:
    with pytest.raises(ParameterError, match="not_attempted must be one of incorrect, exclude"):
        verdict("correct", "ignore")
    with pytest.raises(ParameterError, match="got 'ignore'"):
        JudgeSettings(not_attempted="ignore")


def test_split_keeps_the_runner_settings_from_the_judge_parameters() -> None:
    params = {"concurrency": 4, "model": "m", "not_attempted": "exclude"}
    settings, own = KINDS["judge"].split_settings(params)
    assert (settings.concurrency, settings.not_attempted, own) == (4, "exclude", {"model": "m"})
