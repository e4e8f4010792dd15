"""The one definition of the prompt and answer formats.

The extractors prompt with these; the trainers build their training text with the very
same functions, and the embedded ``tiny`` model is pretrained on them, so training and
evaluation can never drift apart.

Two prompts embed a first answer: the P(True) query (Kadavath et al. 2022: is the proposed
answer true, (A) or (B)?) and the second turn of the second-turn verbalized method (the
plain question and answer, then a request for the confidence in that answer).
"""

from __future__ import annotations

PLAIN_TEMPLATE = "Question: {question}\nAnswer:"
VERBALIZED_TEMPLATE = (
    "Question: {question}\n"
    "Reply with 'Answer: <short answer>' and then 'Confidence: <probability from 0 to 1 "
    "that your answer is correct>'.\n"
)

# Humanity's Last Exam's answer format (its system prompt for exact-answer questions), in
# this project's words: an explanation, the answer, and a confidence in percent.
PERCENT_TEMPLATE = (
    "Question: {question}\n"
    "Reply in three lines: 'Explanation: <why you give this answer>', then 'Answer: <your "
    "short final answer>', then 'Confidence: <from 0% to 100%, how sure you are that your "
    "answer is correct>'.\n"
)


def plain_prompt(question: str, template: str = PLAIN_TEMPLATE) -> str:
    """Prompt for a bare short answer (the ``logprob`` extractor)."""
    return template.format(question=question)


def plain_completion(answer: str) -> str:
    """The completion a plain prompt expects: a space, the answer, a newline."""
    return f" {answer}\n"


def verbalized_prompt(question: str, template: str = VERBALIZED_TEMPLATE) -> str:
    """Prompt for an answer and a stated confidence (the ``verbalized`` extractor;
    ``PERCENT_TEMPLATE`` for its ``scale = "percent"``, HLE's format)."""
    return template.format(question=question)


def verbalized_completion(answer: str, confidence: float) -> str:
    """The completion a verbalized prompt expects: ``Answer: X`` then ``Confidence: 0.NN``."""
    return f"Answer: {answer}\nConfidence: {confidence:.2f}"


PTRUE_TEMPLATE = (
    "Question: {question}\n"
    "Proposed answer: {answer}\n"
    "Is the proposed answer true?\n"
    "(A) True\n"
    "(B) False\n"
    "The proposed answer is:"
)
#: the continuations whose probabilities the P(True) query compares: true, then false
PTRUE_OPTIONS = (" A", " B")

SECOND_TURN_TEMPLATE = (
    "How sure are you that this answer is correct? Reply with 'Confidence: <probability from 0 "
    "to 1>'.\n"
)


def ptrue_prompt(question: str, answer: str, template: str = PTRUE_TEMPLATE) -> str:
    """The self-evaluation query about a proposed answer (the ``ptrue`` extractor and trainer)."""
    return template.format(question=question, answer=answer)


def second_turn_prompt(question: str, answer: str, template: str = SECOND_TURN_TEMPLATE) -> str:
    """The plain question and the model's answer, then the request for its confidence (the
    ``verbalized_followup`` extractor): the second turn's prompt."""
    return plain_prompt(question) + plain_completion(answer) + template


def second_turn_completion(confidence: float) -> str:
    """What the second turn expects: ``Confidence: 0.NN``."""
    return f"Confidence: {confidence:.2f}"
