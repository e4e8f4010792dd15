"""The fake plugin's own tests, written as its author would write them: with ``harness.testing``.

(``pytest_plugins = ["harness.testing"]`` in the plugin's ``conftest.py`` gives the
``harness_registry`` fixture; the harness's own ``tests/conftest.py`` has it.)
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import harness
from harness import Example, Generation, Prediction, ScoreRequest, Scores
from harness.machinery import registry
from harness.machinery.config import Config
from harness.testing import installed, registered, run_harness

DIST = Path(__file__).resolve().parents[1]  # this distribution's own folder


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The distribution pip-installed once, visible to this process while the module's tests run."""
    with installed(DIST, tmp_path_factory.mktemp("fake-plugin")) as folder:
        yield folder


def test_its_strategies_load_through_its_entry_point(site: Path):
    assert registry.get("metric", "fake_metric").distribution == "harness-fake-plugin"
    assert registry.get("extractor", "fake_extractor").parameters() == {"prefix": "Q: ", "confidence": 0.5}


def test_the_metric_is_mean_confidence_minus_accuracy(site: Path):
    metric = registry.create("metric", "fake_metric", Config())
    assert metric(np.array([0.9, 0.5]), np.array([True, False])) == pytest.approx(0.2)


def test_the_extractor_takes_the_first_line_with_its_configured_confidence(site: Path):
    config = Config.load(None, ["extractor.fake_extractor.confidence=0.8"], include_registry=False)
    extractor = registry.create("extractor", "fake_extractor", config)
    example = Example(id="q1", question="Capital of France?", answer="Paris")
    assert extractor.prompt(example) == "Q: Capital of France?\nA:"
    prediction = extractor.extract(Generation(example_id="q1", prompt="", text=" Paris\nmore"))
    assert prediction == Prediction(example_id="q1", answer="Paris", confidence=0.8,
                                    extractor="fake_extractor")


def test_the_sure_extractor_asks_about_its_answer_and_reads_yes_against_no(site: Path):
    extractor = registry.create("extractor", "fake_sure", Config())
    example = Example(id="q1", question="Capital of France?", answer="Paris")
    greedy = Generation(example_id="q1", prompt="", text=" Paris\n")
    asked = extractor.follow_ups(example, greedy)
    assert asked == {"sure": ScoreRequest(example_id="q1", prompt="Q: Capital of France?\nA: Paris\nSure?",
                                          continuations=(" yes", " no"))}
    scores = Scores(example_id="q1", prompt="", continuations=[" yes", " no"], logprobs=[-0.1, -2.3])
    prediction = extractor.extract(greedy, {"sure": scores})
    assert prediction.answer == "Paris" and prediction.confidence == pytest.approx(0.9002, abs=1e-4)
    assert extractor.extract(greedy, {}).confidence is None


def test_the_command_line_computes_the_metric(site: Path, tmp_path: Path):
    answers = tmp_path / "answers.jsonl"
    answers.write_text("".join(json.dumps({"confidence": c, "correct": k}) + "\n"
                               for c, k in [(0.9, True), (0.5, False)]))
    result = run_harness("metrics", str(answers), "--metric", "fake_metric", "--no-ci",
                         sites=[site], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "fake_metric" in result.stdout and "0.200" in result.stdout


class OneMetric:
    @harness.hookimpl
    def register_metrics(self, register):  # type: ignore[no-untyped-def]
        register("mean", lambda confidence, correct: float(np.mean(confidence)))


def test_a_hook_can_be_tried_without_installing_anything(harness_registry: registry.Registry):
    with registered(OneMetric(), "one"):
        assert harness_registry.get("metric", "mean").source == "test-dist"
    assert "mean" not in registry.names("metric")
