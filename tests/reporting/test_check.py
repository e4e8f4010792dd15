"""`harness check` cannot be fooled: every verdict is recomputed from the run's per-example
outcome files with the thresholds in force. One test per way a run used to pass when it must
fail, each beside its passing counterpart.

The run folders are written by hand (``make_run``) in the shape ``harness run`` writes them,
so each case controls exactly the answers it needs; `test_experiment.py` checks a folder made
by a real run end to end.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from risk_helpers import calibrated

from harness.reporting.run_folder import SCHEMA
from harness.statistics.outcomes import Outcome, count, write
from harness.testing import run_harness

METRICS = {"accuracy": {}, "rms_calib_err": {"p": "2", "beta": 100, "adaptive": False}, "ece": {"bins": 10},
           "brier": {}, "auroc": {}, "confidence_std": {}, "hle_calib_err": {"p": "2", "beta": 100}}


def answers(n: int = 300, seed: int = 0, groups: int | None = None) -> list[Outcome]:
    """An overconfident model: says 0.6-1.0, right more often when more confident."""
    rng = np.random.default_rng(seed)
    conf = rng.uniform(0.6, 1.0, n)
    right = rng.random(n) < conf - 0.3
    return [Outcome(example_id=f"q{i}", grade="correct" if r else "incorrect", confidence=float(c),
                    group=f"g{i // 3}" if groups else None, subgroup="seen" if i % 2 else "unseen")
            for i, (c, r) in enumerate(zip(conf, right, strict=True))]


def better(base: list[Outcome]) -> list[Outcome]:
    """The same answers, confidence moved towards their real accuracy: clearly better calibrated."""
    return [o.with_confidence(max(0.0, o.confidence - 0.3)) for o in base]


def make_run(folder: Path, base: list[Outcome], trained: list[Outcome], *, held_out: bool = True,
             thresholds: dict[str, Any] | None = None, metrics: dict[str, dict] | None = None) -> Path:
    """A run folder as `harness run --trainer implicit` writes it (report v2, outcomes, split)."""
    folder.mkdir(parents=True, exist_ok=True)
    write(folder / "outcomes" / "baseline__logprob.jsonl", base)
    write(folder / "outcomes" / "implicit__logprob.jsonl", trained)
    test = [o.example_id for o in base]
    train = test if not held_out else [f"t{i}" for i in range(len(test))]
    (folder / "split.json").write_text(json.dumps({"train": train, "test": test}))
    rows = [{"label": label, "extractor": "logprob", "calibrator": None, "key": f"{label}__logprob",
             "outcomes": f"outcomes/{label}__logprob.jsonl", "metrics": {}, "counts": {}}
            for label in ("baseline", "implicit")]
    report = {
        "schema": SCHEMA, "held_out": held_out, "seed": 0, "rows": rows,
        "comparisons": [{"trainer": "implicit", "extractor": "logprob"}], "trainers": {"implicit": "logprob"},
        "strategies": {"metrics": [{"name": k, "params": v} for k, v in (metrics or METRICS).items()]},
        "counting": {"not_attempted": "incorrect", "missing_confidence": 1.0},
        "bootstrap": {"unit": "group", "requested": "group", "resamples": 1000, "seed": 0},
        "thresholds": thresholds or {},
    }
    (folder / "report.json").write_text(json.dumps(report))
    return folder


def check(folder: Path, *options: str, fresh_interpreter: bool = False) -> subprocess.CompletedProcess:
    """``harness check FOLDER OPTIONS``: in this process, or in a fresh interpreter."""
    return run_harness("check", str(folder), *options, fresh_interpreter=fresh_interpreter)


MARKS = {"ok": "pass", "FAIL": "fail", "INCONCLUSIVE": "inconclusive"}


def outcomes(text: str) -> dict[str, str]:
    """``{criterion: outcome}`` from check's lines ``  ok   name: ...``, ``  FAIL name: ...``,
    ``  INCONCLUSIVE name: ...``."""
    out = {}
    for line in text.splitlines():
        parts = line.split()
        if line.startswith("  ") and parts[0] in MARKS:
            out[parts[1].rstrip(":")] = MARKS[parts[0]]
    return out


def verdicts(text: str) -> dict[str, bool]:
    """``{criterion: passed}`` from check's output."""
    return {name: outcome == "pass" for name, outcome in outcomes(text).items()}


def test_a_clearly_better_calibrated_run_passes(tmp_path):
    base = answers()
    result = check(make_run(tmp_path / "run", base, better(base)))
    assert result.returncode == 0, result.stdout
    assert set(verdicts(result.stdout)) == {"held_out", "sample_size", "calibration", "accuracy", "coverage",
                                            "discrimination", "not_collapsed"}


def test_thresholds_stored_in_the_run_are_ignored(tmp_path):
    """Hole 1: a run made with min_reduction = -1 and max_accuracy_drop = 1 passed when worse."""
    base = answers()
    worse = [o.with_confidence(min(1.0, o.confidence + 0.2)) if i % 10 else
             Outcome(example_id=o.example_id, grade="incorrect", confidence=1.0)
             for i, o in enumerate(base)]
    folder = make_run(tmp_path / "run", base, worse, thresholds={"min_reduction": -1, "max_accuracy_drop": 1})
    result = check(folder, fresh_interpreter=True)  # the real command's exit status
    assert result.returncode == 1
    assert "the run was made with other thresholds" in result.stdout
    assert not verdicts(result.stdout)["calibration"]
    # the user can still loosen them, explicitly, on check's own command line
    assert check(folder, "--min-reduction", "-1", "--max-accuracy-drop", "1", "--min-auroc-change", "-1",
                 "--coverage-tolerance", "1").returncode == 0


def test_a_config_file_sets_thresholds_for_check(tmp_path):
    base = answers()
    folder = make_run(tmp_path / "run", base, better(base))
    strict = tmp_path / "strict.toml"
    strict.write_text("[criteria]\nmin_reduction = 0.99\n")
    result = check(folder, "--config", str(strict))
    assert result.returncode == 1 and not verdicts(result.stdout)["calibration"]


def test_a_run_that_is_not_held_out_fails_unless_allowed(tmp_path):
    """Hole 2: an --eval-on-train run exited 0 with a note."""
    base = answers()
    folder = make_run(tmp_path / "run", base, better(base), held_out=False)
    result = check(folder)
    assert result.returncode == 1 and not verdicts(result.stdout)["held_out"]
    assert check(folder, "--allow-not-held-out").returncode == 0


def test_held_out_is_read_from_the_split_not_from_the_report(tmp_path):
    base = answers()
    folder = make_run(tmp_path / "run", base, better(base), held_out=False)
    report = json.loads((folder / "report.json").read_text())
    report["held_out"] = True  # edited by hand
    (folder / "report.json").write_text(json.dumps(report))
    result = check(folder)
    assert result.returncode == 1 and "split.json says False" in result.stdout


def test_accuracy_counts_answers_without_a_confidence():
    """Hole 3: 2 of 4 answers empty gave accuracy 0.5 instead of 0.25."""
    rows = [Outcome(example_id="a", grade="correct", confidence=0.9),
            Outcome(example_id="b", grade="incorrect", confidence=0.8),
            Outcome(example_id="c", grade="not_attempted", confidence=None),
            Outcome(example_id="d", grade="incorrect", confidence=None)]
    counted = count(rows)
    assert counted.correct.mean() == 0.25
    assert counted.confidence.tolist() == [0.9, 0.8, 1.0, 1.0]  # imputed as HLE does
    assert counted.counts["imputed"] == 2 and counted.coverage() == 0.5


def test_a_model_that_learns_to_say_nothing_on_hard_questions_fails(tmp_path):
    """Hole 3: abstaining on its wrong answers improved every criterion."""
    base = answers()
    silent = [o.with_confidence(o.confidence - 0.2) if o.grade == "correct" else
              Outcome(example_id=o.example_id, grade="not_attempted", confidence=None) for o in base]
    result = check(make_run(tmp_path / "run", base, silent))
    assert result.returncode == 1
    assert not verdicts(result.stdout)["coverage"]


def test_a_handful_of_examples_cannot_pass(tmp_path):
    """Hole 4: four paired examples passed on point estimates."""
    base = answers(4)
    result = check(make_run(tmp_path / "run", base, better(base)))
    assert result.returncode == 1
    assert "4 paired examples (needs >= 100)" in result.stdout
    assert not verdicts(result.stdout)["sample_size"]


def test_a_point_that_passes_with_a_straddling_interval_is_inconclusive_and_exits_1(tmp_path):
    """Issue 22, hole 1: a change whose CI reaches past "no improvement" passed on its point estimate;
    now it is inconclusive, check exits 1 and says which. --point still gives the seed's reading, labelled."""
    base = answers(300)
    rng = np.random.default_rng(5)
    slightly = [o.with_confidence(o.confidence - 0.02 + rng.normal(0, 0.05)) for o in base]
    slightly = [o.with_confidence(float(np.clip(o.confidence, 0, 1))) for o in slightly]
    folder = make_run(tmp_path / "run", base, slightly)
    result = check(folder, "--min-reduction", "0.05")
    assert result.returncode == 1, result.stdout
    assert outcomes(result.stdout)["calibration"] == "inconclusive"
    assert "implicit (logprob, 300 paired examples, bootstrap over examples): INCONCLUSIVE" in result.stdout
    assert result.stdout.splitlines()[-1] == \
        "not every verdict passed (exit 1): implicit: calibration inconclusive"
    assert "reading: interval" in result.stdout
    point = check(folder, "--min-reduction", "0.05", "--point")
    assert point.returncode == 0, point.stdout
    assert "reading: POINT (--point)" in point.stdout and "POINT READING (--point)" in point.stdout
    assert check(folder, "--min-reduction", "0.05", "--strict").stdout == result.stdout  # the old name
    both = check(folder, "--point", "--strict")
    assert both.returncode == 2 and "strict and point contradict" in both.stderr


def test_confidence_that_ranks_nothing_fails_discrimination(tmp_path):
    """Hole 5: three confidence values drawn independently of correctness passed with RMS -77%."""
    base = answers()
    rng = np.random.default_rng(3)
    shuffled = [o.with_confidence(float(rng.choice([0.3, 0.45, 0.6]))) for o in base]
    result = check(make_run(tmp_path / "run", base, shuffled))
    assert result.returncode == 1
    found = verdicts(result.stdout)
    assert found["calibration"] and not found["discrimination"]


def test_check_uses_the_run_metric_parameters(tmp_path):
    """Hole 7: the run's rms/hle beta was ignored by check."""
    base = answers(60)
    metrics = {**METRICS, "hle_calib_err": {"p": "2", "beta": 10}}
    folder = make_run(tmp_path / "run", base, better(base), metrics=metrics)
    result = check(folder, "--metric", "hle_calib_err", "--min-n", "50")
    assert "needs at least beta" not in result.stdout
    assert verdicts(result.stdout)["calibration"], result.stdout


def test_the_cluster_bootstrap_is_the_default_and_can_be_switched_off(tmp_path):
    base = answers(300, groups=3)
    folder = make_run(tmp_path / "run", base, better(base))
    assert "bootstrap over groups" in check(folder).stdout
    assert "bootstrap over examples" in check(folder, "--bootstrap", "example").stdout


@pytest.mark.parametrize(("options", "message"), [
    (("--max-bin-share", "2"), "max_bin_share must be in [0, 1]"),
    (("--min-n", "0"), "--min-n"),
    (("--bootstrap", "entity"), "--bootstrap"),
    (("--require", "everything"), "--require"),
    (("--risk-alpha", "1.5"), "risk_alpha must lie strictly between 0 and 1"),
])
def test_bad_options_are_one_line_and_exit_2(tmp_path, options, message):
    base = answers()
    result = check(make_run(tmp_path / "run", base, better(base)), *options)
    assert result.returncode == 2, result.stdout
    assert len(result.stderr.strip().splitlines()) == 1 and message in result.stderr


def test_a_run_from_an_older_version_cannot_be_rechecked(tmp_path):
    folder = tmp_path / "old"
    folder.mkdir()
    (folder / "report.json").write_text(json.dumps({"schema": "calibration-harness/report/v1", "rows": [],
                                                    "comparisons": []}))
    result = check(folder)
    assert result.returncode == 2
    assert "cannot be re-checked" in result.stderr and len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(("alpha", "outcome"), [("0.3", "pass"), ("0.05", "fail"), ("0.2", "inconclusive")])
def test_require_risk_gates_on_the_trained_rows_abstention(tmp_path, alpha, outcome):
    """pass: the realised risk's CI lies at or below alpha; fail: nothing is answered at 5% (or the
    CI lies above alpha); inconclusive: the CI straddles alpha."""
    base = calibrated(seed=0)
    folder = make_run(tmp_path / "run", base, calibrated(seed=3))
    reported = check(folder, "--risk-alpha", alpha)
    assert " risk (reported): at risk " + alpha.rstrip("0") in reported.stdout
    required = check(folder, "--risk-alpha", alpha, "--require", "risk")
    assert outcomes(required.stdout)["risk"] == outcome, required.stdout
    assert required.returncode == 1 or outcome == "pass"
    if outcome != "pass":
        assert f"risk {outcome}" in required.stdout.splitlines()[-1]
