"""The ``ptrue`` extractor: the model is shown its own answer and asked whether it is true; the
confidence is the probability of ``A`` (True) — normalised over the two options by default."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from extractor_helpers import EXAMPLE, greedy
from torch_helpers import one_torch_thread

from harness.errors import ParameterError
from harness.plugins.backends.hf import HFBackend
from harness.plugins.extractors import formats
from harness.plugins.extractors.ptrue import PTrueExtractor
from harness.records import Example, Scores
from harness.running import stages
from harness.strategies import ScoreRequest


def scores(true: float | None, false: float | None, **kwargs) -> Scores:  # type: ignore[no-untyped-def]
    return Scores(example_id="e1", prompt="q", continuations=[" A", " B"], logprobs=[true, false], **kwargs)


def test_it_asks_about_its_own_answer_with_the_two_options() -> None:
    asked = PTrueExtractor().follow_ups(EXAMPLE, greedy(" red"))
    query = formats.ptrue_prompt(EXAMPLE.question, "red")
    assert asked == {"ptrue": ScoreRequest(example_id="e1", prompt=query, continuations=(" A", " B"))}
    assert "Proposed answer: red\nIs the proposed answer true?\n(A) True\n(B) False" in asked["ptrue"].prompt
    assert PTrueExtractor().follow_ups(EXAMPLE, greedy(" ")) == {}  # nothing to ask about an empty answer


def test_confidence_is_the_softmax_over_the_two_options_or_p_a_as_it_is() -> None:
    responses = {"ptrue": scores(math.log(0.6), math.log(0.2))}
    got = PTrueExtractor().extract(greedy(" red"), responses)
    assert (got.answer, got.confidence, got.error) == ("red", pytest.approx(0.75), None)
    raw = PTrueExtractor(normalize=False).extract(greedy(" red"), responses)
    assert raw.confidence == pytest.approx(0.6)


@pytest.mark.parametrize(("responses", "reason"), [
    ({}, "was not scored"),
    ({"ptrue": scores(None, -1.0)}, "no probability for an option"),
    ({"ptrue": scores(None, None, error="HTTP 500")}, "failed: HTTP 500"),
])
def test_a_missing_score_is_a_missing_confidence_with_its_reason(responses, reason) -> None:  # type: ignore[no-untyped-def]
    got = PTrueExtractor().extract(greedy(" red"), responses)
    assert got.confidence is None and reason in got.error and got.answer == "red"


def test_normalize_must_be_a_bool() -> None:
    with pytest.raises(ParameterError, match="normalize must be true or false"):
        PTrueExtractor(normalize="yes")  # type: ignore[arg-type]


def test_on_a_tiny_model_it_equals_a_separate_forward_pass(tiny_lm_path: Path, tmp_path: Path) -> None:
    """Greedy answer, score request through the follow-up stage, extract: the confidence is the
    softmax over the logits of the ``A`` and ``B`` tokens after the query, to 1e-5."""
    torch = pytest.importorskip("torch")
    for _ in one_torch_thread():
        backend = HFBackend(str(tiny_lm_path), max_new_tokens=4)
        extractor = PTrueExtractor()
        examples = [Example(id=f"q{i}", question=f"What is the colour of item {i}?", answer="red")
                    for i in range(3)]
        generations = stages.generate(tmp_path / "g.jsonl", backend, extractor, examples, progress=False)
        responses = stages.follow_up(tmp_path / "f.jsonl", backend, extractor, examples, generations,
                                     progress=False)
        predictions = stages.extract(None, extractor, examples, generations, responses)
        tokenizer, model = backend.tokenizer, backend.model
        a, b = (tokenizer(t, add_special_tokens=False)["input_ids"] for t in formats.PTRUE_OPTIONS)
        # this tokenizer spells " A" and " B" as a shared space token, then the letter: normalised,
        # the space's probability cancels, leaving the softmax over the two letters' logits after it
        assert a[:-1] == b[:-1] and a[-1] != b[-1]
        for example in examples:
            answer = generations[example.id].text.split("\n")[0].strip()
            ids = backend.encode(formats.ptrue_prompt(example.question, answer)) + a[:-1]
            with torch.no_grad():
                logits = model(torch.tensor([ids])).logits[0, -1].float()
            expected = float(torch.softmax(logits[[a[-1], b[-1]]], dim=-1)[0])
            assert predictions[example.id].confidence == pytest.approx(expected, abs=1e-5)
