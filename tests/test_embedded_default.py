"""The README's first command on a fresh cache: the embedded default (the `facts` task, the
`tiny` model built offline on first use, the `mock` judge) trains both methods, and
`harness check` — the CI gate a user puts after a run — passes on the held-out split."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.slow
def test_the_embedded_default_passes_the_success_criteria_on_held_out_questions(tmp_path: Path) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "2", "HARNESS_CACHE_DIR": str(tmp_path / "cache")}
    out = tmp_path / "run"
    run = subprocess.run(
        [sys.executable, "-m", "harness.cli", "run", "--trainer", "implicit", "--trainer", "explicit",
         "--out", str(out)],
        capture_output=True, text=True, env=env,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert "Traceback" not in run.stderr
    report = json.loads((out / "report.json").read_text())
    assert report["held_out"] is True
    split = json.loads((out / "split.json").read_text())
    entity = {e.split("/")[0] for e in split["train"]}
    assert not entity & {e.split("/")[0] for e in split["test"]}, "an entity straddles the split"
    assert {c["trainer"] for c in report["comparisons"]} == {"implicit", "explicit"}
    check = subprocess.run([sys.executable, "-m", "harness.cli", "check", str(out)],
                           capture_output=True, text=True, env=env)
    assert check.returncode == 0, check.stdout + check.stderr
    assert (out / "diagrams" / "logprob.png").exists() and (out / "diagrams" / "verbalized.png").exists()
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "complete" and manifest["wall_seconds"] > 0
