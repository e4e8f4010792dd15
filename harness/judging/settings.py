"""Settings of the core's judge runner, which every judge gets for free.

They are parameters of every judge (``[judge.NAME] concurrency = 32`` in a config, or
``-p judge.concurrency=32``) that the core keeps for itself: the judge's factory never
sees them, so a third-party judge implements only ``grade``.
"""

from __future__ import annotations

import attrs

from harness.errors import ParameterError

NOT_ATTEMPTED_POLICIES = ("incorrect", "exclude")


@attrs.frozen(kw_only=True)
class JudgeSettings:
    concurrency: int = 16  # requests in flight at once
    max_attempts: int = 6  # per item, retries included
    timeout: float = 60.0  # seconds per request
    max_error_rate: float = 0.05  # fail the run when more items than this still fail
    backoff_base: float = 1.0  # seconds; doubled each attempt, with jitter
    backoff_max: float = 60.0
    not_attempted: str = "incorrect"  # how `not_attempted` counts for calibration
    max_cost: float = 0.0  # USD a run's judge may spend (--max-judge-cost); 0: no cap

    def __attrs_post_init__(self) -> None:
        if self.concurrency < 1:
            raise ParameterError(f"judge concurrency must be >= 1, got {self.concurrency}")
        if self.max_attempts < 1:
            raise ParameterError(f"judge max_attempts must be >= 1, got {self.max_attempts}")
        if self.max_cost < 0:
            raise ParameterError(f"judge max_cost must be >= 0 (0: no cap), got {self.max_cost}")
        verdict(None, self.not_attempted)  # checks the policy


def verdict(grade: str | None, not_attempted: str = "incorrect") -> bool | None:
    """What one judged grade says for calibration, under the ``not_attempted`` policy: the
    one place the policy is applied (the report's counting, ``check``, training labels).

    ``True`` for ``correct``; ``False`` for ``incorrect``, and for ``not_attempted`` under
    ``"incorrect"`` (HLE's choice, the default); ``None`` (left out) for a judge error
    (``grade=None``: no verdict on the model) and for ``not_attempted`` under ``"exclude"``.
    """
    if not_attempted not in NOT_ATTEMPTED_POLICIES:
        raise ParameterError(f"judge not_attempted must be one of {', '.join(NOT_ATTEMPTED_POLICIES)}, "
                             f"got {not_attempted!r}")
    if grade is None or (grade == "not_attempted" and not_attempted == "exclude"):
        return None
    return grade == "correct"


