"""The judge runner: what every judge gets for free, around its one ``async grade``.

A judge plugin implements only ``async grade(example, prediction) -> Judgment``; this
package runs it over a whole stage, one job per module:

- ``runner``: ``judge_predictions`` / ``ajudge_predictions`` — concurrency, the
  persistent cache, error accounting, progress and usage;
- ``retries``: which failures are retried, fatal or final (``classify``) and the back-off;
- ``redaction``: no credential reaches a file (``redact``);
- ``resume``: the judgments a run folder already holds (``load_judgments``);
- ``summary``: ``JudgingSummary`` and ``JudgingFailed``;
- ``training``: ``TrainingJudge``, the judge a trainer grades its own answers with while it
  trains (through this runner and the cache).

What other modules import is re-exported here.
"""

from __future__ import annotations

from harness.judging.redaction import redact
from harness.judging.resume import load_judgments
from harness.judging.retries import Failure, classify
from harness.judging.runner import ajudge_predictions, judge_predictions
from harness.judging.summary import JudgingFailed, JudgingSummary
from harness.judging.training import TrainingJudge, TrainingJudgeError

__all__ = [
    "Failure",
    "JudgingFailed",
    "JudgingSummary",
    "TrainingJudge",
    "TrainingJudgeError",
    "ajudge_predictions",
    "classify",
    "judge_predictions",
    "load_judgments",
    "redact",
]
