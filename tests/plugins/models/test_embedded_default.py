"""The README's first command on a fresh cache: the embedded default (the `facts` task, the
`tiny` model shipped with the package, the `mock` judge) trains both methods and reports
them beside post-hoc calibrators on the held-out split; `harness check` — the CI gate a user
puts after a run — recomputes the same verdicts from the run folder.

World 0 is a validation world (the tiny model's profile was chosen on worlds 0-4). Read from
the paired CIs (issue 22) neither trainer passes there: explicit's calibration is
inconclusive (debiased_calib_err 0.148 -> 0.148, the CI of the change [-0.086, +0.089]), and
implicit's accuracy and discrimination are (their CIs straddle the allowed 5 points)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.testing import run_harness


@pytest.mark.slow
@pytest.mark.start_first
def test_the_embedded_default_passes_the_success_criteria_on_held_out_questions(tmp_path: Path) -> None:
    # one thread: the suite's other worker has the other core (two threads cost 77 CPU-s here
    # against 52 s with one, for the same verdicts)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HARNESS_CACHE_DIR": str(tmp_path / "cache")}
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
    rows = {(r["label"], r["extractor"], r["calibrator"]) for r in report["rows"]}
    for extractor, trainer in (("logprob", "implicit"), ("verbalized", "explicit")):
        for label in ("baseline", trainer):
            assert {(label, extractor, c) for c in (None, "temperature", "isotonic")} <= rows
    comparisons = {c["trainer"]: c for c in report["comparisons"]}
    for comparison in comparisons.values():
        assert comparison["beats_posthoc"]["against"].startswith("baseline[")  # the best map of any extractor
        assert comparison["beats_posthoc"]["outcome"] in ("pass", "fail", "inconclusive")
        assert comparison["adds_to_posthoc"]["per_calibrator"]
        assert comparison["retention"]["n"] > 100
        assert {g["subgroup"] for g in comparison["subgroups"]} == {"seen entity", "unseen entity"}
    explicit = comparisons["explicit"]
    assert (explicit["outcome"], explicit["not_passed"]) == ("inconclusive", {"calibration": "inconclusive"})
    assert comparisons["implicit"]["outcome"] == "inconclusive"
    markdown = (out / "report.md").read_text()
    assert markdown.index("## Verdicts at a glance") < markdown.index("## Metrics")
    assert "| explicit | verbalized | **INCONCLUSIVE** |" in markdown
    check = run_harness("check", str(out), env={"HARNESS_CACHE_DIR": env["HARNESS_CACHE_DIR"]})
    assert check.returncode == (0 if all(c["passed"] for c in comparisons.values()) else 1), check.stderr
    assert check.stdout.splitlines()[-1].startswith("not every verdict passed (exit 1): ")
    assert "explicit: calibration inconclusive" in check.stdout.splitlines()[-1]
    for comparison in comparisons.values():  # check recomputes exactly what the report says
        for verdict in comparison["criteria"]:
            assert verdict["detail"] in check.stdout, verdict["name"]
    for name in ("logprob", "verbalized", "logprob-posthoc", "verbalized-posthoc"):
        assert (out / "diagrams" / f"{name}.png").exists(), name
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "complete" and manifest["wall_seconds"] > 0
