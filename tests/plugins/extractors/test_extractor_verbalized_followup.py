"""The ``verbalized_followup`` extractor (formerly ``verbalized2``): the plain answer, then a second
turn that shows the model its answer and asks for its confidence, parsed as ``verbalized`` does."""

from __future__ import annotations

import pytest
from extractor_helpers import EXAMPLE, greedy

from harness.plugins.extractors import formats
from harness.plugins.extractors.verbalized_followup import SecondTurnExtractor


def test_the_second_turn_embeds_the_question_and_the_answer() -> None:
    (request,) = SecondTurnExtractor().follow_ups(EXAMPLE, greedy(" red")).values()
    assert request.prompt == (f"Question: {EXAMPLE.question}\nAnswer: red\n" + formats.SECOND_TURN_TEMPLATE)
    assert (request.n, request.temperature) == (1, 0.0)  # greedy


def test_the_stated_confidence_is_parsed() -> None:
    got = SecondTurnExtractor().extract(greedy(" red"), {"second_turn": greedy("Confidence: 0.85")})
    assert (got.answer, got.confidence, got.error) == ("red", pytest.approx(0.85), None)


def test_a_missing_confidence_is_reported_and_on_missing_names_what_the_core_imputes() -> None:
    reply = {"second_turn": greedy("I am not sure")}
    missing = SecondTurnExtractor().extract(greedy(" red"), reply)
    assert missing.confidence is None and "no 'Confidence:' line" in missing.error
    assert SecondTurnExtractor().missing_confidence == 1.0
    assert SecondTurnExtractor(on_missing=0.3).missing_confidence == 0.3
    assert SecondTurnExtractor(on_missing="exclude").missing_confidence is None


def test_its_former_name_verbalized2_still_selects_and_configures_it_with_a_notice(capsys) -> None:
    from harness.machinery import registry
    from harness.machinery.config import Config
    from harness.running.experiment import ExperimentSpec

    registry._NOTIFIED.discard(("extractor", "verbalized2"))  # the notice is printed once per process
    assert registry.get("extractor", "verbalized2") is registry.get("extractor", "verbalized_followup")
    notice = capsys.readouterr().err
    assert notice.strip() == ("harness: note: extractor 'verbalized2' is deprecated: it is now "
                              "'verbalized_followup' (the old name still works, for now)")
    config = Config.load(overrides=["extractor.verbalized2.on_missing=0.25"])
    assert registry.create("extractor", "verbalized2", config).missing_confidence == 0.25
    assert "verbalized2" not in registry.names("extractor")  # listed under its name now only
    spec = ExperimentSpec.from_cli(extractor=("logprob", "verbalized2"), calibrators=(), task="facts",
                                   model="tiny", backend="hf", judge="mock", trainers=(), metrics=(),
                                   limit=None, seed=0, test_size=0.5, eval_on_train=False, out=None,
                                   config_file=None, overrides=(), force=False, no_cache=False)
    assert spec.extra_extractors == ("verbalized_followup",)  # the run is named by the name now
