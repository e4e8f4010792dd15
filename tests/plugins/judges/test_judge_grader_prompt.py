"""The API judges' grader prompt — SimpleQA's grading rules, one case each — and the parser
of the grader's A/B/C reply."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.plugins.judges.grader_prompt import LETTERS, PROMPT_VERSION, TEMPLATE, build_prompt, parse_grade
from harness.plugins.judges.mock import match_grade


def test_the_prompt_carries_the_item_and_simpleqa_rules() -> None:
    prompt = build_prompt(" Who wrote Hamlet? ", "William Shakespeare", "Shakespeare\n")
    item = "QUESTION: Who wrote Hamlet?\nGOLD TARGET: William Shakespeare\nPREDICTED ANSWER: Shakespeare\n"
    assert item in prompt
    assert "last significant figure" in prompt and "NOT_ATTEMPTED" in prompt
    assert prompt.rstrip().endswith("Reply with a single letter: A, B or C. No explanation.")
    assert PROMPT_VERSION


def _section(letter: str) -> str:
    """The part of the built-in template that defines grade ``letter``."""
    starts = {"A": "A) CORRECT", "B": "B) INCORRECT", "C": "C) NOT_ATTEMPTED", "end": "Examples ("}
    order = ["A", "B", "C", "end"]
    begin = TEMPLATE.index(starts[letter])
    return TEMPLATE[begin : TEMPLATE.index(starts[order[order.index(letter) + 1]])]


# (rule, grade letter, what the prompt states under that grade, (predicted, gold) for the mock
# judge where its exact matching can apply the rule, else None)
RULES = [
    ("a partial answer", "B", '(gold "Malia and Sasha": "Malia" is incorrect)', ("Malia", "Malia and Sasha")),
    ("a partial answer that admits not knowing the rest", "C",
     "\"I know one of them is Malia, but I'm not sure about the other one\") is not attempted",
     ("I know one of them is Malia, but I'm not sure about the other one", "Malia and Sasha")),
    ("hedging that still gives the whole gold target", "A", "but I'm not sure and would have to double check",
     None),
    ("an admission of not knowing beside a wrong statement", "B", "Barack Obama has three children", None),
    ("numbers both ways", "A", '"120k", "124k" and "115k" are correct; "113k" and "100k" are incorrect',
     None),
    ("a bare number in the question's unit", "A", 'gold "1.73 m": "1.75" is correct', None),
    ("either of two identifying answers", "A", '"Season 7, Episode 20" and "White Wedding" are both correct',
     None),
    ("only the meaning matters", "A", "Only the meaning matters, not the wording", None),
    ("a hedged number", "C", '"around 100k", "more than 50k"', ("around 100k", "120,000")),
    ("a number to the last significant figure", "A", "to the gold target's last significant figure", None),
    ("a first name whose surname can be presumed", "A",
     "A person's first name alone is correct when their surname can be presumed", None),
    ("a unit the question implies", "A", "A unit the question clearly implies may be left out", None),
    ("a gold target that says more than asked", "A", "When the gold target says more than the question",
     None),
    ("several candidates", "B", '("Paris or Lyon"), even when one of them is right',
     ("Paris or Lyon", "Paris")),
    ("a hedge committing to the gold target", "A", "Hedging or guessing is fine",
     ("I think it's Paris", "Paris")),
    ("a refusal", "C", "\"I don't know\", a refusal, an empty answer", ("I don't know", "Paris")),
]


@pytest.mark.parametrize(("rule", "letter", "stated", "mock_case"), RULES, ids=[r[0] for r in RULES])
def test_each_simpleqa_rule_is_stated_under_its_grade_and_the_mock_judge_honours_it(
        rule: str, letter: str, stated: str, mock_case: tuple[str, str] | None) -> None:
    assert stated in _section(letter), rule
    if mock_case is not None:
        assert match_grade(*mock_case) == LETTERS[letter], rule


def test_the_worked_examples_give_each_letter() -> None:
    examples = TEMPLATE[TEMPLATE.index("Examples ("):TEMPLATE.index("QUESTION:")]
    assert '"Malia" -> B' in examples and '"Malia and Sasha" -> A' in examples
    assert '"I don\'t know" -> C' in examples


@pytest.mark.parametrize(
    ("reply", "grade"),
    [
        ("A", "correct"),
        ("B\n", "incorrect"),
        (" (C) ", "not_attempted"),
        ("**B**", "incorrect"),
        ("`A`", "correct"),
        ("B) INCORRECT", "incorrect"),
        ("C - the answer is missing", "not_attempted"),
        ("Grade: A", "correct"),
        ("The final answer is: B.", "incorrect"),
        ("CORRECT", "correct"),
        ("NOT_ATTEMPTED", "not_attempted"),
        ("NOT ATTEMPTED", "not_attempted"),
        ("INCORRECT.", "incorrect"),
        ("<think>It could be A, or maybe C.</think>\nB", "incorrect"),
        ("\n\nA\nBecause it matches.", "correct"),
    ],
)
def test_accepted_reply_shapes(reply: str, grade: str) -> None:
    assert parse_grade(reply) == grade


@pytest.mark.parametrize(
    "reply",
    [
        None,
        "",
        "I need more context.",
        "A correct answer would mention Paris.",  # "A" here is an article
        "It is CORRECT? No, INCORRECT.",  # two verdicts on the deciding line
        "D",
        "<think>A</think>",  # only the hidden reasoning names a letter
    ],
)
def test_unparseable_replies_give_none(reply: str | None) -> None:
    assert parse_grade(reply) is None


decorations = st.tuples(
    st.sampled_from(["", " ", "\n", "**", "("]),
    st.sampled_from(["", ".", ")", "**", "\n", " "]),
)


@given(st.sampled_from(sorted(LETTERS)), decorations, st.sampled_from(["", "Grade: ", "Answer: "]))
def test_a_decorated_letter_is_always_read(letter: str, around: tuple[str, str], label: str) -> None:
    before, after = around
    closing = ")" if before == "(" else after
    assert parse_grade(f"{label}{before}{letter}{closing}") == LETTERS[letter]


@given(st.text(alphabet=st.characters(blacklist_characters="ABCabc"), max_size=40))
def test_text_without_a_letter_or_a_verdict_word_is_never_graded(text: str) -> None:
    assert parse_grade(text) is None
