"""The judge's cost estimate and the run's spending cap (the real path, through a local server,
is in tests/plugins/judges/test_judge_openai.py)."""

from __future__ import annotations

import pytest

from harness.errors import ParameterError
from harness.judging.budget import CostBudget, describe, estimate, prompt_tokens
from harness.records import Example, Prediction


class PricedJudge:
    """One dollar per thousand prompt tokens, ten per thousand reply tokens; 100-token limit."""

    max_tokens = 100

    def estimate_usage(self, example: Example, prediction: Prediction, response: str | None
                       ) -> dict[str, int]:
        return {"prompt_tokens": prompt_tokens(example.question, prediction.answer), "completion_tokens": 2}

    def cost(self, usage: dict[str, int]) -> float | None:
        return usage["prompt_tokens"] / 1000 + usage["completion_tokens"] / 100


def _items(n: int) -> list[tuple[Example, Prediction, None]]:
    return [(Example(id=f"e{i}", question="q" * 396, answer="a"),
             Prediction(example_id=f"e{i}", answer="abcd", confidence=None), None) for i in range(n)]


def test_the_estimate_sums_each_items_prompt_and_a_typical_reply_and_bounds_it_by_the_token_limit() -> None:
    found = estimate(PricedJudge(), _items(3))
    assert found["usage"] == {"prompt_tokens": 300, "completion_tokens": 6}  # 400 characters: 100 tokens
    assert found["cost"] == pytest.approx(0.3 + 0.06)
    assert found["cost_bound"] == pytest.approx(0.3 + 3.0)  # every reply at its 100 tokens
    line = describe("openai", "gpt-4.1", found, cap=2.0)
    assert line.startswith("judge 'openai' (gpt-4.1): asking about 3 item(s), estimated cost $0.36")
    assert line.endswith("at most $3.30 if every reply ran to its token limit; --max-judge-cost $2.00")


def test_a_judge_without_a_price_or_an_estimate_gives_none() -> None:
    class Free:
        def estimate_usage(self, *_: object) -> dict[str, int]:
            return {"prompt_tokens": 1}

        def cost(self, usage: dict[str, int]) -> None:
            return None

    assert estimate(Free(), _items(2)) is None
    assert estimate(object(), _items(2)) is None
    assert estimate(PricedJudge(), []) is None


def test_the_budget_reserves_before_and_settles_after() -> None:
    budget = CostBudget(1.0)
    assert budget.reserve(0.4) and budget.reserve(0.4)
    assert not budget.reserve(0.4)  # 1.2 would pass the cap
    budget.settle(0.4, 0.1)  # the request cost less than estimated
    assert budget.reserve(0.4)
    budget.settle(0.4, None)  # no usage reported: the estimate counts
    assert budget.spent == pytest.approx(0.5) and budget.reserved == pytest.approx(0.4)


@pytest.mark.parametrize("limit", [0.0, -1.0])
def test_a_cap_must_be_above_zero(limit: float) -> None:
    with pytest.raises(ParameterError, match="--max-judge-cost must be above 0"):
        CostBudget(limit)
