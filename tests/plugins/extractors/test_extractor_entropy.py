"""The ``entropy`` extractor: exp(-entropy) of the answer tokens' next-token distributions."""

from __future__ import annotations

import math

import pytest
from extractor_helpers import greedy

from harness.errors import ParameterError
from harness.plugins.extractors.entropy import EntropyExtractor


def test_mean_and_max_entropy_of_the_answer_tokens_only() -> None:
    """The leading space-only token and the newline are not answer tokens (as for logprob)."""
    generation = greedy(" dark blue\n", tokens=[" ", "dark", " blue", "\n"], entropies=[5.0, 0.2, 0.6, 9.0])
    assert EntropyExtractor().extract(generation).confidence == pytest.approx(math.exp(-0.4))
    assert EntropyExtractor(measure="max").extract(generation).confidence == pytest.approx(math.exp(-0.6))


def test_certain_tokens_are_full_confidence_and_missing_entropies_are_said() -> None:
    assert EntropyExtractor().extract(greedy(" red", entropies=[0.0])).confidence == 1.0
    missing = EntropyExtractor().extract(greedy(" red"))
    assert missing.confidence is None and missing.error == "the generation has no token entropies"


def test_an_unknown_measure_is_one_line() -> None:
    with pytest.raises(ParameterError, match="measure must be one of mean, max"):
        EntropyExtractor(measure="median")
