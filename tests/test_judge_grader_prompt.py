"""The API judges' grader prompt and the parser of the grader's A/B/C reply."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.plugins.judges.grader_prompt import LETTERS, PROMPT_VERSION, build_prompt, parse_grade


def test_the_prompt_carries_the_item_and_simpleqa_rules() -> None:
    prompt = build_prompt(" Who wrote Hamlet? ", "William Shakespeare", "Shakespeare\n")
    item = "QUESTION: Who wrote Hamlet?\nGOLD TARGET: William Shakespeare\nPREDICTED ANSWER: Shakespeare\n"
    assert item in prompt
    assert "last significant figure" in prompt and "NOT_ATTEMPTED" in prompt
    assert prompt.rstrip().endswith("Reply with a single letter: A, B or C. No explanation.")
    assert PROMPT_VERSION


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
