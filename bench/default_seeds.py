"""Does the embedded default pass by method, not by luck? Fresh worlds, every verdict, the post-hoc bar.

Runs ``harness run --trainer implicit --trainer explicit`` on the embedded default over worlds
that played no part in tuning it — each world its own synthetic ``facts`` world, its own
pretrained ``tiny-<world>`` model, split and training seed — and prints, per trainer:

- the pass rate of the seed's criteria (calibration, accuracy, not collapsed) and of every
  criterion ``harness check`` applies by default (also sample size, coverage, discrimination);
- each verdict as pass / fail / inconclusive (decided by its paired CI), with the pass rate's exact
  binomial interval; the post-hoc bar (the best map of the untrained model over every extractor,
  chosen on the training split) named per world, and how often training beats it
  (``beats_posthoc``) or adds to it (``adds_to_posthoc``).

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
               trainers: tuple[str, ...] = TRAINERS) -> dict[int, tuple[dict, float, int, Path]]:
    """``harness sweep --model tiny-{seed} --seeds <worlds> --trainer implicit --trainer explicit``
    (or ``trainers``); per world its report (its comparisons recomputed by ``harness check``'s code
    from the outcome files, so kept worlds are read under today's verdicts), its run's wall time,
    ``harness check``'s exit status and its run folder."""
    from harness.reporting.check import check_run, reassess
    from harness.running.experiment import ExperimentSpec
    from harness.running.sweep import run_sweep

    summary = run_sweep(ExperimentSpec(model="tiny-{seed}", trainers=trainers), out, seeds=worlds, jobs=jobs)
    results = {}
    for cell in summary["cells"]:
        folder = out / cell["folder"]
        elapsed = json.loads((folder / "manifest.json").read_text())["wall_seconds"]
        ok, _ = check_run(folder)
        report, assessed, _, _ = reassess(folder)
        results[cell["seed"]] = ({**report, "comparisons": assessed["comparisons"]}, elapsed, 0 if ok else 1,
                                 folder)
    return results


def metric(report: dict, label: str, extractor: str, calibrator: str | None, name: str) -> float | None:
    for row in report["rows"]:
        if (row["label"], row["extractor"], row.get("calibrator")) == (label, extractor, calibrator):
            return (row["metrics"].get(name) or {}).get("value")
    return None


def outcome(verdict: dict | None) -> str:
    """pass / fail / inconclusive of one verdict (``passed`` only in a run folder of an older version)."""
    from harness.statistics.criteria import verdict_outcome

    return verdict_outcome(verdict) or "n/a"


def summary(report: dict, comparison: dict) -> dict:
    from harness.statistics.criteria import overall

    criteria = {v["name"]: v for v in comparison["criteria"]}
    extractor = comparison["extractor"]
    name = report["thresholds"]["metric"]
    beats, adds = comparison.get("beats_posthoc"), comparison.get("adds_to_posthoc")
    return {
        "metric": name,
        "error": (metric(report, "baseline", extractor, None, name), metric(report, comparison["trainer"],
                                                                         extractor, None, name)),
        "accuracy_change": -criteria["accuracy"]["value"] if "accuracy" in criteria else None,
        "seed": overall([outcome(criteria[n]) for n in SEED_CRITERIA if n in criteria]),
        "all": outcome(comparison),
        "not_passed": {n: outcome(v) for n, v in criteria.items() if outcome(v) != "pass"},
        "beats": outcome(beats), "adds": outcome(adds),
        "bar": (beats or {}).get("against"),
        "retention": (comparison.get("retention") or {}).get("value"),
    }


def keep_outcomes(folder: Path, into: Path) -> None:
    """report.json, manifest.json, split.json and the per-example outcome files of one world
    (gzipped), so that a later change of a verdict is rechecked (``harness check``) without retraining."""
    import gzip
    import shutil

    into.mkdir(parents=True, exist_ok=True)
    kept = [folder / name for name in ("report.json", "manifest.json", "split.json")]
    for path in [*kept, *sorted((folder / "outcomes").glob("*"))]:
        if path.is_file():
            target = into / path.relative_to(folder)
            target.parent.mkdir(parents=True, exist_ok=True)
            with path.open("rb") as src, gzip.open(f"{target}.gz", "wb", compresslevel=9) as dst:
                shutil.copyfileobj(src, dst)


def restore_kept(kept: Path, out: Path, trainers: tuple[str, ...], worlds: list[int]) -> list[int]:
    """Put back the kept worlds (``--keep``) that ``out`` lacks, as finished sweep cells, so a bench
    spread over sessions (on fresh checkouts) reruns only the worlds not measured yet. A kept world
    whose spec differs from this one (other trainers) is left alone: the sweep reruns it."""
    import gzip

    from harness.running.experiment import ExperimentSpec
    from harness.running.sweep import build_cells

    restored = []
    for cell in build_cells(ExperimentSpec(model="tiny-{seed}", trainers=trainers), out, worlds, [], []):
        source = kept / f"world-{cell.seed}"
        if (cell.spec.out / "manifest.json").exists() or not (source / "manifest.json.gz").exists():
            continue
        for packed in source.rglob("*.gz"):
            target = cell.spec.out / packed.relative_to(source).with_suffix("")
            target.parent.mkdir(parents=True, exist_ok=True)
            with gzip.open(packed, "rb") as src:
                target.write_bytes(src.read())
        restored.append(cell.seed)
    return restored


def fmt(x: float | None, pattern: str = "{:.3f}") -> str:
    return "n/a" if x is None else pattern.format(x)


def tally_line(trainer: str, counts: dict[str, dict[str, int]], n: int) -> str:
    from harness.statistics.seed_statistics import clopper_pearson

    def one(what: str) -> str:
        c = counts[what]
        ci = clopper_pearson(c["pass"], n)
        return (f"{what} {c['pass']} pass / {c['fail']} fail / {c['inconclusive']} inconclusive of {n}"
                + (f" (pass rate 95% CI [{ci[0]:.2f}, {ci[1]:.2f}])" if ci else ""))

    return f"{trainer}: " + "; ".join(one(w) for w in ("seed criteria", "all criteria", "beats post-hoc",
                                                        "adds to post-hoc"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worlds", type=int, nargs="+", default=FRESH_WORLDS)
    parser.add_argument("--out", type=Path, default=Path("runs/bench-worlds"))
    parser.add_argument("--jobs", type=int, default=1, help="Worlds run at once (harness sweep --jobs).")
    parser.add_argument("--trainer", dest="trainers", action="append",
                        help=f"Trainer (repeatable; default {' '.join(TRAINERS)}).")
    parser.add_argument("--keep", type=Path, default=None,
                        help="Keep each world's manifest, report.json and outcome files here (gzipped) and "
                             "put back those kept earlier: the bench resumes across fresh checkouts.")
    args = parser.parse_args()
    trainers = tuple(args.trainers or TRAINERS)
    os.environ.setdefault("OMP_NUM_THREADS", "2")
    began = time.monotonic()
    lines = ["| world | trainer | calibration error baseline → trained | accuracy change | seed criteria "
             "| all criteria | beats post-hoc | adds to post-hoc | the bar | retention |",
             "| --- |" + " --- |" * 9]
    kinds = ("seed criteria", "all criteria", "beats post-hoc", "adds to post-hoc")
    tally = {t: {k: {"pass": 0, "fail": 0, "inconclusive": 0, "n/a": 0} for k in kinds} for t in trainers}
    if args.keep:
        restored = restore_kept(args.keep, args.out, trainers, args.worlds)
        if restored:
            print(f"kept worlds put back from {args.keep}: {', '.join(map(str, restored))}", flush=True)
    worlds = run_worlds(args.worlds, args.out, args.jobs, trainers)
    for world, (report, elapsed, exit_code, folder) in worlds.items():
        print(f"world {world}: {elapsed:.0f} s (harness check exit {exit_code})", flush=True)
        if args.keep:
            keep_outcomes(folder, args.keep / f"world-{world}")
        for comparison in report["comparisons"]:
            s = summary(report, comparison)
            t = tally[comparison["trainer"]]
            for kind, key in zip(kinds, ("seed", "all", "beats", "adds"), strict=True):
                t[kind][s[key]] += 1
            before, after = s["error"]
            change = None if not before or after is None else (after - before) / before
            why = "" if s["all"] == "pass" else \
                f" ({', '.join(f'{n} {o}' for n, o in s['not_passed'].items()) or 'required'})"
            row = (f"| {world} | {comparison['trainer']} | {s['metric']} {fmt(before)} → {fmt(after)} "
                   f"({fmt(change, '{:+.0%}')}) "
                   f"| {fmt(s['accuracy_change'] and 100 * s['accuracy_change'], '{:+.1f} pt')} "
                   f"| {s['seed']} | {s['all']}{why} | {s['beats']} | {s['adds']} | {s['bar'] or 'n/a'} "
                   f"| {fmt(s['retention'], '{:.1%}')} |")
            lines.append(row)
            print("  " + row, flush=True)
    n = len(args.worlds)
    totals = [tally_line(t, c, n) for t, c in tally.items()]
    wall = time.monotonic() - began
    text = "\n".join(lines + [""] + [f"- {line}" for line in totals] + [f"- wall time {wall:.0f} s"]) + "\n"
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.md").write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
