"""Does the abstention guarantee hold? Many calibration sets on fresh worlds, each threshold's risk measured.

``harness.statistics.risk_control.choose_threshold`` promises: with probability at least 1 - delta
over the calibration answers, the error rate among answered questions *in the population the
calibration answers came from* is at most alpha. This bench checks that promise on the tiny
model's fresh worlds (100 and 101 by default; never used for tuning): each world is evaluated
once (``harness run --model tiny-<world> --calibrator none``: every one of its 900 questions,
the default extractor), and its answers are the population. Then, per world and per confidence
(the raw confidence, and every built-in calibrator), ``--draws`` times:

- ``population`` (the guarantee's own terms): a calibration set of ``--size`` answers drawn with
  replacement from the world's answers (and, for a calibrator, a fitting set of the same size,
  drawn the same way, that fits the map); the threshold is chosen on the calibration set and its
  risk is the exact error rate among the world's answers at that threshold (the map applied to
  all of them). Exceeding alpha should happen in at most a delta share of the draws;
- ``held-out`` (what a user sees): the world's answers shuffled, the fitting set and the
  calibration set taken without replacement, the risk measured on all the others (600 for the raw
  confidence, 300 for a map). That risk is itself an estimate on a few hundred answers, so it
  exceeds alpha more often than the population's does when the threshold's risk is close to alpha;
- ``naive`` (a control): the lowest threshold whose *empirical* risk on the calibration set is at
  most alpha, with no guarantee, in the population protocol. It should exceed alpha often — the
  measurement can see a failure.

Per row: exceedances / draws with their exact (Clopper-Pearson) 95% interval, the mean coverage
(share of the population answered) and the share of draws that abstain on everything.
``<out>/results.md`` is the table; bench/results/abstention/README.md is the run kept in the
repository, with the two worlds' answers.

    python bench/abstention.py                       # worlds 100 101, 200 draws of 300, alpha 0.1 and 0.2
    python bench/abstention.py --worlds 100 --draws 50 --out runs/bench-abstention-quick
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

CALIBRATORS = ("temperature", "platt", "isotonic", "histogram")
RAW = "raw"


def evaluate(world: int, out: Path) -> Path:
    """The world's evaluation-only run (every question, the default extractor); resumes if killed."""
    from harness.testing import run_harness

    folder = out / f"world-{world}"
    if not (folder / "report.json").is_file():
        result = run_harness("run", "--model", f"tiny-{world}", "--out", str(folder), "--calibrator", "none",
                             timeout=3600)
        if result.returncode != 0:
            raise SystemExit(f"world {world}: harness run failed:\n{result.stderr[-2000:]}")
    return folder


def population(folder: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(confidence, correct, attempted) of every answer of the run's baseline row."""
    import json

    from harness.statistics import outcomes as outcome_files
    from harness.statistics.abstention import risk_arrays

    report = json.loads((folder / "report.json").read_text())
    row = next(r for r in report["rows"] if r["label"] == "baseline" and not r.get("calibrator"))
    items = outcome_files.read(folder / row["outcomes"])
    missing = float(report["counting"]["missing_confidence"])
    conf, correct, attempted, _ = risk_arrays(items, missing)
    return conf, correct, attempted


def _mapped(method: str, conf: np.ndarray, correct: np.ndarray, fit_on: np.ndarray) -> np.ndarray:
    """Every answer's confidence under ``method``: raw, or a map fitted on the ``fit_on`` answers."""
    if method == RAW:
        return conf
    from harness.machinery.config import Config
    from harness.statistics.calibration import fit_calibrator

    fitted = fit_calibrator(method, Config.load(), conf[fit_on], correct[fit_on])
    return np.asarray(fitted.apply(conf), dtype=np.float64)


def _risk(conf: np.ndarray, correct: np.ndarray, attempted: np.ndarray, threshold: float | None,
          where: np.ndarray) -> tuple[float, float]:
    """(error rate among answered, share answered) of the answers ``where`` at ``threshold``."""
    if threshold is None:
        return 0.0, 0.0
    answered = attempted[where] & (conf[where] >= threshold)
    took = int(answered.sum())
    return (float((~correct[where][answered]).mean()) if took else 0.0), took / len(answered)


def _naive(conf: np.ndarray, correct: np.ndarray, attempted: np.ndarray, alpha: float) -> float | None:
    from harness.statistics.risk_control import DEFAULT_GRID

    for t in DEFAULT_GRID:
        answered = attempted & (conf >= t)
        if answered.any() and (~correct[answered]).mean() <= alpha:
            return float(t)
    return None


def draws(conf: np.ndarray, correct: np.ndarray, attempted: np.ndarray, method: str, protocol: str, *,
          n_draws: int, size: int, alpha: float, delta: float, seed: int) -> dict:
    """Exceedances, coverage and abstain-everything share of ``n_draws`` calibration sets."""
    from harness.errors import HarnessError
    from harness.statistics.risk_control import choose_threshold

    rng = np.random.default_rng(seed)
    n = len(conf)
    everyone = np.arange(n)
    over, covered, nothing, risks, failed_fits = 0, [], 0, [], 0
    for _ in range(n_draws):
        if protocol == "held-out":
            order = rng.permutation(n)
            fit_on, calibrate_on = order[:size], order[size:2 * size]
            measure_on = order[2 * size:] if method != RAW else order[size:]
            if method == RAW:
                calibrate_on = order[:size]
        else:
            fit_on, calibrate_on = rng.integers(0, n, size), rng.integers(0, n, size)
            measure_on = everyone
        try:
            mapped = _mapped(method, conf, correct, fit_on)
        except HarnessError:
            failed_fits += 1
            continue
        if protocol == "naive":
            threshold = _naive(mapped[calibrate_on], correct[calibrate_on], attempted[calibrate_on], alpha)
        else:
            threshold = choose_threshold(mapped[calibrate_on], correct[calibrate_on], attempted[calibrate_on],
                                         alpha=alpha, delta=delta).threshold
        risk, coverage = _risk(mapped, correct, attempted, threshold, measure_on)
        over += risk > alpha
        covered.append(coverage)
        nothing += threshold is None
        if threshold is not None:
            risks.append(risk)
    done = n_draws - failed_fits
    return {"draws": done, "over": over, "coverage": float(np.mean(covered)) if covered else 0.0,
            "nothing": nothing, "mean_risk": float(np.mean(risks)) if risks else None,
            "failed_fits": failed_fits}


def table(results: list[dict], alpha: float, delta: float, size: int) -> str:
    """One markdown table of the draws at ``alpha``."""
    from harness.statistics.seed_statistics import clopper_pearson

    lines = [f"Risk level alpha = {alpha}, failure probability delta = {delta}; calibration sets of {size} "
             f"answers (and fitting sets of {size} for a map).", "",
             "| world | confidence | protocol | draws | risk > alpha | share [95% CI] | within delta | "
             "mean coverage | abstains on all | mean risk when answering |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in results:
        ci = clopper_pearson(r["over"], r["draws"]) if r["draws"] else None
        share = f"{r['over'] / r['draws']:.3f} [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else "n/a"
        within = "n/a" if not ci else "yes" if ci[0] <= delta else "NO"
        risk = "n/a" if r["mean_risk"] is None else f"{r['mean_risk']:.3f}"
        lines.append(f"| {r['world']} | {r['method']} | {r['protocol']} | {r['draws']} | {r['over']} "
                     f"| {share} | {within} | {r['coverage']:.3f} | {r['nothing'] / max(r['draws'], 1):.2f} "
                     f"| {risk} |")
    lines += ["", "within delta: the exceedance share's Clopper-Pearson interval reaches down to delta or "
              "below (yes) — the guarantee is not contradicted; NO: it lies above delta."]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worlds", type=int, nargs="+", default=[100, 101])
    parser.add_argument("--draws", type=int, default=200)
    parser.add_argument("--size", type=int, default=300)
    parser.add_argument("--alpha", type=float, nargs="+", default=[0.1, 0.2])
    parser.add_argument("--delta", type=float, default=0.1)
    parser.add_argument("--out", type=Path, default=Path("runs/bench-abstention"))
    args = parser.parse_args()
    start = time.perf_counter()
    results = []
    for world in args.worlds:
        conf, correct, attempted = population(evaluate(world, args.out))
        print(f"world {world}: {len(conf)} answers, accuracy {correct.mean():.3f}, "
              f"attempted {attempted.mean():.3f}", flush=True)
        for alpha in args.alpha:
            for method in (RAW, *CALIBRATORS):
                for protocol in ("population", "held-out", "naive"):
                    found = draws(conf, correct, attempted, method, protocol, n_draws=args.draws,
                                  size=args.size, alpha=alpha, delta=args.delta, seed=world)
                    results.append({"world": world, "alpha": alpha, "method": method, "protocol": protocol,
                                    **found})
                    print(f"  alpha {alpha} {method:<12} {protocol:<10} risk > alpha in "
                          f"{found['over']}/{found['draws']}, coverage {found['coverage']:.3f}", flush=True)
    text = "\n\n".join(table([r for r in results if r["alpha"] == alpha], alpha, args.delta, args.size)
                        for alpha in args.alpha)
    text += f"\n\nwall time {time.perf_counter() - start:.0f} s (generation included)\n"
    (args.out / "results.md").write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
