"""Does the embedded default pass by method, not by luck? Fresh worlds, every verdict, the post-hoc bar.

Runs ``harness run --trainer implicit --trainer explicit`` on the embedded default over worlds
that played no part in tuning it — each world its own synthetic ``facts`` world, its own
pretrained ``tiny-<world>`` model, split and training seed — and prints, per trainer:

- the pass rate of the seed's criteria (calibration, accuracy, not collapsed) and of every
  criterion ``harness check`` applies by default (also sample size, coverage, discrimination);
- the post-hoc comparison: the best ``baseline + calibrator`` row's calibration error, and how
  often training beats it (``beats_posthoc``) or adds to it (``adds_to_posthoc``).

The tiny model's profile (its hyperparameters) was chosen on the validation worlds 0-4; the
default worlds here, 100-109, are never used for tuning. The runs are one ``harness sweep``
(``--model tiny-{seed} --seeds 100-109``: a killed bench resumes, ``<out>/sweep.md`` has the
means across worlds); this script adds the per-world table, written to ``<out>/results.md``.

    python bench/default_seeds.py                       # worlds 100-109
    python bench/default_seeds.py --trainer brier --out runs/bench-worlds-brier   # another trainer
    python bench/default_seeds.py --worlds 100 101 --out runs/bench-worlds --jobs 2
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

TRAINERS = ("implicit", "explicit")
SEED_CRITERIA = ("calibration", "accuracy", "not_collapsed")
FRESH_WORLDS = list(range(100, 110))


def run_worlds(worlds: list[int], out: Path, jobs: int,
               trainers: tuple[str, ...] = TRAINERS) -> dict[int, tuple[dict, float, int]]:
    """``harness sweep --model tiny-{seed} --seeds <worlds> --trainer implicit --trainer explicit``
    (or ``trainers``); per world its report, its run's wall time and ``harness check``'s exit status."""
    from harness.experiment import ExperimentSpec
    from harness.report import check_run
    from harness.sweep import run_sweep

    summary = run_sweep(ExperimentSpec(model="tiny-{seed}", trainers=trainers), out, seeds=worlds, jobs=jobs)
    results = {}
    for cell in summary["cells"]:
        folder = out / cell["folder"]
        elapsed = json.loads((folder / "manifest.json").read_text())["wall_seconds"]
        ok, _ = check_run(folder)
        results[cell["seed"]] = (json.loads((folder / "report.json").read_text()), elapsed, 0 if ok else 1)
    return results


def metric(report: dict, label: str, extractor: str, calibrator: str | None, name: str) -> float | None:
    for row in report["rows"]:
        if (row["label"], row["extractor"], row.get("calibrator")) == (label, extractor, calibrator):
            return (row["metrics"].get(name) or {}).get("value")
    return None


def summary(report: dict, comparison: dict) -> dict:
    criteria = {v["name"]: v for v in comparison["criteria"]}
    extractor = comparison["extractor"]
    before = metric(report, "baseline", extractor, None, "rms_calib_err")
    after = metric(report, comparison["trainer"], extractor, None, "rms_calib_err")
    posthoc = {c: metric(report, "baseline", extractor, c, "rms_calib_err")
               for c in ("temperature", "isotonic")}
    beats, adds = comparison.get("beats_posthoc"), comparison.get("adds_to_posthoc")
    return {
        "rms": (before, after), "posthoc": posthoc,
        "accuracy_change": -criteria["accuracy"]["value"] if "accuracy" in criteria else None,
        "seed_pass": all(criteria[n]["passed"] for n in SEED_CRITERIA if n in criteria),
        "new_pass": comparison["passed"],
        "failed": [n for n, v in criteria.items() if not v["passed"]],
        "beats": None if beats is None else beats["passed"],
        "adds": None if adds is None else adds["passed"],
        "retention": (comparison.get("retention") or {}).get("value"),
    }


def fmt(x: float | None, pattern: str = "{:.3f}") -> str:
    return "n/a" if x is None else pattern.format(x)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worlds", type=int, nargs="+", default=FRESH_WORLDS)
    parser.add_argument("--out", type=Path, default=Path("runs/bench-worlds"))
    parser.add_argument("--jobs", type=int, default=1, help="Worlds run at once (harness sweep --jobs).")
    parser.add_argument("--trainer", dest="trainers", action="append",
                        help=f"Trainer (repeatable; default {' '.join(TRAINERS)}).")
    args = parser.parse_args()
    trainers = tuple(args.trainers or TRAINERS)
    os.environ.setdefault("OMP_NUM_THREADS", "2")
    began = time.monotonic()
    lines = ["| world | trainer | RMS baseline → trained | accuracy change | + temperature | + isotonic "
             "| seed criteria | all criteria | beats post-hoc | adds to post-hoc | retention |",
             "| --- |" + " --- |" * 10]
    tally = {t: {"seed": 0, "new": 0, "beats": 0, "adds": 0} for t in trainers}
    for world, (report, elapsed, exit_code) in run_worlds(args.worlds, args.out, args.jobs, trainers).items():
        print(f"world {world}: {elapsed:.0f} s (harness check exit {exit_code})", flush=True)
        for comparison in report["comparisons"]:
            s = summary(report, comparison)
            t = tally[comparison["trainer"]]
            t["seed"] += s["seed_pass"]
            t["new"] += s["new_pass"]
            t["beats"] += bool(s["beats"])
            t["adds"] += bool(s["adds"])
            before, after = s["rms"]
            change = None if not before or after is None else (after - before) / before
            failed = "" if s["new_pass"] else f" ({', '.join(s['failed']) or 'required'})"
            row = (f"| {world} | {comparison['trainer']} | {fmt(before)} → {fmt(after)} "
                   f"({fmt(change, '{:+.0%}')}) "
                   f"| {fmt(s['accuracy_change'] and 100 * s['accuracy_change'], '{:+.1f} pt')} "
                   f"| {fmt(s['posthoc']['temperature'])} | {fmt(s['posthoc']['isotonic'])} "
                   f"| {'pass' if s['seed_pass'] else 'FAIL'} "
                   f"| {'pass' if s['new_pass'] else 'FAIL'}{failed} "
                   f"| {'yes' if s['beats'] else 'no'} | {'yes' if s['adds'] else 'no'} "
                   f"| {fmt(s['retention'], '{:.1%}')} |")
            lines.append(row)
            print("  " + row, flush=True)
    n = len(args.worlds)
    totals = [f"{t}: seed criteria {c['seed']}/{n}, all criteria {c['new']}/{n}, beats post-hoc "
              f"{c['beats']}/{n}, adds to post-hoc {c['adds']}/{n}" for t, c in tally.items()]
    wall = time.monotonic() - began
    text = "\n".join(lines + [""] + [f"- {line}" for line in totals] + [f"- wall time {wall:.0f} s"]) + "\n"
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.md").write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
