"""The ``mock`` judge: normalised *exact* matching against the gold answer and its aliases,
before the refusal and bound rules (so every gold answer grades correct against itself),
refusals not attempted, negations and lists of candidates incorrect, and replayed verdicts."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from judge_helpers import fresh_cache  # noqa: F401 - fixture

from harness.errors import InputError
from harness.judging import judge_predictions
from harness.machinery import registry
from harness.machinery.config import Config
from harness.plugins.judges.mock import MockJudge, match_grade, normalize
from harness.records import Example, Prediction

SIMPLEQA = Path("/work/shared/data/simpleqa/simple_qa_test_set.csv")


@pytest.mark.parametrize("gold", ["It's past your bedtime", "approximately 20 kilometers", "I don't know",
                                  "more than 50,000"])
def test_a_gold_answer_that_reads_like_a_refusal_or_a_bound_is_correct_against_itself(gold: str) -> None:
    assert match_grade(gold, gold) == "correct"
    assert match_grade(f"  {gold.upper()}. ", gold) == "correct"


@pytest.mark.skipif(not SIMPLEQA.exists(), reason="no offline copy of SimpleQA")
def test_every_simpleqa_gold_answer_grades_correct_against_itself() -> None:
    from harness.tasks.simpleqa import read_simpleqa

    examples = read_simpleqa(SIMPLEQA)
    assert len(examples) == 4326
    failing = [e.answer for e in examples if match_grade(e.answer, e.answer, e.metadata) != "correct"]
    assert failing == []


@pytest.mark.parametrize(
    ("predicted", "gold"),
    [
        ("paris", "Paris"),
        ("  The   Eiffel Tower. ", "eiffel tower"),
        ("1000", "1,000"),
        ("3", "3.0"),
        ("3.50 metres", "3.5 metres"),
        ("Zürich", "Zurich"),
        ("It is Paris.", "Paris"),  # one leading hedge is dropped
        ("I think it's Paris", "Paris"),
        ("Marie Curie", "Marie-Curie"),
        ("NYC", "New York City|NYC"),  # a |-separated alias
    ],
)
def test_matches_despite_formatting(predicted: str, gold: str) -> None:
    assert match_grade(predicted, gold) == "correct"


@pytest.mark.parametrize(
    ("predicted", "gold", "rule"),
    [
        ("not red, it is blue", "blue", "a negation beside the answer"),
        ("not red, it is blue", "red", "a negation of the answer"),
        ("red or blue", "red", "several candidates"),
        ("red, blue, green", "blue", "a list of every candidate"),
        ("Malia", "Malia and Sasha", "a partial answer"),
        ("It is Paris, France.", "Paris", "more than the gold answer"),
    ],
)
def test_anything_but_the_gold_answer_itself_is_incorrect(predicted: str, gold: str, rule: str) -> None:
    assert match_grade(predicted, gold) == "incorrect", rule


@pytest.mark.parametrize("predicted", ["around 100k", "more than 50k", "about 118,000", "between 1 and 5"])
def test_a_number_given_only_as_an_approximation_or_a_bound_is_not_attempted(predicted: str) -> None:
    assert match_grade(predicted, "120,000") == "not_attempted"  # SimpleQA's rule for hedged numbers
    assert match_grade("about 120,000", "120,000") == "correct"  # the gold number itself, hedged


def test_aliases_may_come_from_the_examples_metadata() -> None:
    assert match_grade("Big Apple", "New York City", {"aliases": ["NYC", "Big Apple"]}) == "correct"
    assert match_grade("NYC", "New York City", {"aliases": "NYC"}) == "correct"
    assert match_grade("Boston", "New York City", {"aliases": ["NYC"]}) == "incorrect"


@pytest.mark.parametrize(
    ("predicted", "grade"),
    [
        ("", "not_attempted"),
        ("   ", "not_attempted"),
        ("I don't know.", "not_attempted"),
        ("I'm not sure", "not_attempted"),
        ("Unknown", "not_attempted"),
        ("Lyon", "incorrect"),
        ("1001", "incorrect"),
        ("Parisian", "incorrect"),  # whole words only
    ],
)
def test_refusals_and_wrong_answers(predicted: str, grade: str) -> None:
    assert match_grade(predicted, "Paris") == grade


words = st.text(alphabet=st.characters(categories=("Ll", "Lu", "Nd")), min_size=1, max_size=8)
phrases = st.lists(words, min_size=1, max_size=4).map(" ".join)


@given(phrases)
def test_normalize_is_idempotent(text: str) -> None:
    assert normalize(" ".join(normalize(text))) == normalize(text)


@given(phrases, st.sampled_from(["", "The ", "the ", "A "]), st.sampled_from(["", ".", "!", " ,"]))
def test_case_articles_punctuation_and_spacing_do_not_matter(gold: str, article: str, tail: str) -> None:
    assume(normalize(gold))  # a gold made only of articles has nothing to match
    assume(gold.upper().casefold() == gold.casefold())  # "ı".upper() is "I": another letter
    assert match_grade(f"  {article}{gold.upper()}{tail}  ", gold) == "correct"


@given(st.integers(min_value=0, max_value=10**12))
def test_number_formats_match(n: int) -> None:
    assert match_grade(f"{n:,}", str(n)) == "correct"
    assert match_grade(f"{n}.0", f"{n:,}") == "correct"


def test_a_run_with_the_mock_judge_via_the_registry(tmp_path: Path) -> None:
    judge, settings = registry.create_judge("mock", Config.load())
    example = Example(id="e1", question="Capital of France?", answer="Paris")
    pairs = [(example, Prediction(example_id="e1", answer="paris.", confidence=0.9))]
    summary = judge_predictions(judge, settings, pairs, tmp_path / "judgments.jsonl", progress=False)
    assert summary.grades["correct"] == 1 and summary.cached == 0  # never cached: it is instant


def test_replay_uses_recorded_verdicts_and_falls_back_to_matching(tmp_path: Path) -> None:
    recorded = tmp_path / "recorded.jsonl"
    rows = [
        {"example_id": "e1", "answer": "Paris", "grade": "incorrect", "judge": "openai",
         "model": "gpt-4.1-mini", "raw": "B"},
        {"example_id": "e2", "answer": "Rome", "grade": None, "error": "timeout"},  # no verdict
    ]
    recorded.write_text("".join(json.dumps(r) + "\n" for r in rows))
    judge = MockJudge(replay=str(recorded))
    e1 = Example(id="e1", question="?", answer="Paris")
    e2 = Example(id="e2", question="?", answer="Rome")
    grade = lambda e, a: asyncio.run(judge.grade(e, Prediction(example_id=e.id, answer=a, confidence=None)))  # noqa: E731
    replayed = grade(e1, "Paris")
    assert replayed.grade == "incorrect" and replayed.raw == "replay of openai/gpt-4.1-mini: B"
    assert grade(e1, "paris.").grade == "correct"  # not in the file: matched
    assert grade(e2, "Rome").grade == "correct"  # the recorded error is no verdict


def test_replay_of_a_missing_file_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        MockJudge(replay=str(tmp_path / "nope.jsonl"))
