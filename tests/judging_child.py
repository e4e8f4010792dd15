"""A judging stage in a process of its own, for the test that kills it with SIGKILL.

Usage: ``python tests/judging_child.py OUT_JSONL BASE_URL N CONCURRENCY`` — judges the
``N`` items of ``judge_helpers.items`` with the ``openai`` judge at ``BASE_URL``.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from judge_helpers import items  # noqa: E402

from harness.judging import judge_predictions  # noqa: E402
from harness.judging.settings import JudgeSettings  # noqa: E402
from harness.plugins.judges.openai_judge import OpenAIJudge  # noqa: E402


def main(out: str, base_url: str, n: str, concurrency: str) -> None:
    settings = JudgeSettings(concurrency=int(concurrency), backoff_base=0.01, timeout=10.0)
    judge_predictions(OpenAIJudge(base_url=base_url), settings, items(int(n)), Path(out), progress=False)


if __name__ == "__main__":
    main(*sys.argv[1:])
