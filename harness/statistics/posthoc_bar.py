"""The post-hoc bar and the two verdicts against it: ``beats_posthoc`` and ``adds_to_posthoc``.

The bar is the best post-hoc map of the untrained model over every extractor the run reports,
the base-rate constant included, chosen without the test answers: the candidate
``baseline[extractor] + c`` with the lowest cross-validated Brier score on the baseline's
*training-split* answers (``harness.statistics.posthoc``, stored in each row's ``calibrator_fit``). Its
held-out figures are those of its cross-fitted (or calibration-split) row.

Both verdicts are judged on a proper score, the Brier score, each row on its own answers to the
same questions (a verbalized answer may differ from the greedy one): the comparison a user
deploying either would make. Log loss and the calibration error are reported beside it. Each
verdict is three-valued by the paired bootstrap CI of the Brier difference (trained − bar):

- ``pass``: the CI lies below 0 (training lowers the Brier score);
- ``fail``: its lower bound is at or above 0 (the CI excludes any improvement);
- ``inconclusive``: otherwise (or when no interval can be computed).

``adds_to_posthoc`` asks it of every ``<trainer> + c`` of the run (cross-fitted too): ``pass`` when
every one beats the bar, ``fail`` when any fails, else ``inconclusive``; the change against the
same calibrator on the untrained model (``baseline + c``) is reported beside it.

Each verdict dict carries ``outcome``, ``passed`` (== ``outcome == "pass"``), ``against`` (the
bar's title, e.g. ``baseline[logprob] + isotonic``) and its figures.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import numpy as np

from harness.errors import HarnessError
from harness.statistics.bootstrap import group_ids, percentile_interval
from harness.statistics.outcomes import Counted
from harness.statistics.posthoc import BASE_RATE
from harness.statistics.scoring import paired_difference

PASS, FAIL, INCONCLUSIVE = "pass", "fail", "inconclusive"
#: log loss clips confidences this far from 0 and 1 (a confident wrong answer costs log(1e6))
LOG_LOSS_EPS = 1e-6


def title(key: Any) -> str:
    """``baseline[logprob] + isotonic``: the row, its extractor and its map."""
    return f"{key.label}[{key.extractor}]" + (f" + {key.calibrator}" if key.calibrator else "")


def log_loss(confidence: np.ndarray, correct: np.ndarray) -> float:
    """Mean binary log loss of the confidences, clipped to [1e-6, 1 − 1e-6]."""
    c = np.clip(np.asarray(confidence, dtype=np.float64), LOG_LOSS_EPS, 1.0 - LOG_LOSS_EPS)
    y = np.asarray(correct, dtype=bool)
    return float(-np.mean(np.where(y, np.log(c), np.log1p(-c))))


def outcome_of(ci: list[float] | None) -> str:
    """The three-valued reading of the paired CI of a Brier difference (trained − bar)."""
    if not ci:
        return INCONCLUSIVE
    if ci[1] < 0:
        return PASS
    if ci[0] >= 0:
        return FAIL
    return INCONCLUSIVE


def candidates(counted: Mapping[Any, Any], fits: Mapping[Any, Mapping[str, Any]],
               baseline: str = "baseline") -> list[dict[str, Any]]:
    """Every candidate for the bar with its training-split CV Brier score, best first (ties by title)."""
    found = []
    for key, fit in fits.items():
        if key.label != baseline or not key.calibrator or key not in counted or not counted[key].ids:
            continue
        score = (fit.get("selection") or {}).get("cv_brier")
        if score is not None:
            found.append({"against": title(key), "cv_brier": float(score), "key": key})
    return sorted(found, key=lambda c: (c["cv_brier"], c["against"]))


def select_bar(counted: Mapping[Any, Any], fits: Mapping[Any, Mapping[str, Any]]) -> Any | None:
    """The bar's row key: the lowest training-split CV Brier score, or None without candidates."""
    found = candidates(counted, fits)
    return found[0]["key"] if found else None


def select_floor(counted: Mapping[Any, Any], fits: Mapping[Any, Mapping[str, Any]]) -> Any | None:
    """The best base-rate constant (by the same selection), which every verdict must also beat:
    the bar chosen on the training split may do worse on the test answers than the constant, and
    a model that says one number must never pass."""
    found = [c for c in candidates(counted, fits) if c["key"].calibrator == BASE_RATE]
    return found[0]["key"] if found else None


def against_bar(counted: Mapping[Any, Any], fits: Mapping[Any, Mapping[str, Any]], other: Any,
                settings: Any, **options: Any) -> dict[str, Any]:
    """``compare`` with the bar; where the bar is not the base-rate constant, the constant too:
    ``pass`` only when both pass, ``fail`` when either fails (its ``floor`` entry says so)."""
    bar, floor = select_bar(counted, fits), select_floor(counted, fits)
    result = compare(counted[bar], other, settings, **options)
    if floor is not None and floor != bar:
        low = compare(counted[floor], other, settings)
        result["floor"] = {"against": title(floor), **low}
        outcomes = {result["outcome"], low["outcome"]}
        result["outcome"] = FAIL if FAIL in outcomes else PASS if outcomes == {PASS} else INCONCLUSIVE
        result["passed"] = result["outcome"] == PASS
    return result


def _losses(confidence: np.ndarray, correct: np.ndarray) -> dict[str, np.ndarray]:
    """Each answer's Brier and log loss (the scores are their means)."""
    y = correct.astype(np.float64)
    c = np.clip(confidence, LOG_LOSS_EPS, 1.0 - LOG_LOSS_EPS)
    return {"brier": (confidence - y) ** 2, "log_loss": -(y * np.log(c) + (1.0 - y) * np.log1p(-c))}


@functools.lru_cache(maxsize=2)  # the same draw for every comparison of a check on the same examples
def _pick_counts(n: int, resamples: int, seed: int, groups: tuple[str, ...] | None
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(an (R, G) matrix of how often each group is drawn in each resample, each example's group,
    each resample's size): ``harness.statistics.bootstrap``'s documented random stream, so the resamples
    are exactly ``draw``'s. Read-only: the arrays are shared by every caller."""
    if groups is None:
        ids, count = np.arange(n), n
    else:
        ids, count = group_ids(groups, n)
    dtype = np.int32 if count < 2**31 else np.int64
    picks = np.random.default_rng(seed).integers(0, count, size=(resamples, count), dtype=dtype)
    flat = (np.arange(resamples, dtype=np.int64)[:, None] * count + picks).ravel()
    counts = np.bincount(flat, minlength=resamples * count).reshape(resamples, count).astype(np.float64)
    sizes = counts @ np.bincount(ids, minlength=count).astype(np.float64)
    for array in (counts, ids, sizes):
        array.flags.writeable = False
    return counts, ids, sizes


def _mean_replicates(values: np.ndarray, draws: tuple[np.ndarray, np.ndarray, np.ndarray]) -> np.ndarray:
    """The mean of each column of per-answer ``values`` (n, k) on every resample, shape (R, k):
    per-group sums weighted by how often each resample drew the group."""
    counts, ids, sizes = draws
    sums = np.stack([np.bincount(ids, weights=column, minlength=counts.shape[1]) for column in values.T],
                    axis=1)
    return (counts @ sums) / sizes[:, None]


def compare(bar: Any, other: Any, settings: Any, *, calibration_error: bool = False) -> dict[str, Any]:
    """``other`` (a ``Counted``) against the bar on the examples both scored: the paired changes
    (other − bar) of the Brier score and log loss (and with ``calibration_error`` the criteria's
    calibration error), and the three-valued outcome of the Brier difference.

    Both scores are means of per-answer losses, so their paired bootstrap is the mean of the
    per-answer differences on each resample, computed from how often each group was drawn:
    the same resamples (``harness.statistics.bootstrap``'s documented stream, the run's seed and unit) as
    every other paired CI of the run, drawn once for every comparison on the same examples
    (``_pick_counts`` is cached)."""
    a, b = _paired(bar, other)
    if not a.ids:
        return {"outcome": INCONCLUSIVE, "passed": False, "n": 0, "error": "no example scored by both"}
    la, lb = _losses(a.confidence, a.correct), _losses(b.confidence, b.correct)
    resamples = None
    if settings.resamples > 0:
        groups = groups_of(a, settings)
        resamples = _pick_counts(len(a.ids), settings.resamples, settings.seed,
                                 None if groups is None else tuple(groups))
    names = ("brier", "log_loss")
    diffs = np.stack([lb[name] - la[name] for name in names], axis=1)
    reps = _mean_replicates(diffs, resamples) if resamples is not None else None
    changes: dict[str, Any] = {}
    for k, name in enumerate(names):
        changes[name] = {"a": float(la[name].mean()), "b": float(lb[name].mean()),
                         "diff": float(diffs[:, k].mean()),
                         "ci": percentile_interval(reps[:, k]) if reps is not None else None}
    if calibration_error:
        metric = str(settings.thresholds["metric"])
        changes[metric] = paired_metric(metric, a, b, settings)
    result = outcome_of(changes["brier"]["ci"])
    return {"outcome": result, "passed": result == PASS, "n": len(a.ids), "changes": changes}


def beats_posthoc(trained_key: Any, counted: Mapping[Any, Any], fits: Mapping[Any, Mapping[str, Any]],
                  settings: Any) -> dict[str, Any] | None:
    """The trained model's raw confidences against the bar (None: the run has no post-hoc rows)."""
    bar = select_bar(counted, fits)
    if bar is None or trained_key not in counted:
        return None
    result = against_bar(counted, fits, counted[trained_key], settings, calibration_error=True)
    verdict = {**result, "against": title(bar), "metric": "brier",
               "selection": [{k: v for k, v in c.items() if k != "key"} for c in candidates(counted, fits)]}
    brier = (result.get("changes") or {}).get("brier") or {}
    if brier.get("diff") is None:
        verdict["detail"] = f"against {title(bar)}: {result.get('error') or brier.get('error')}"
        return verdict
    verdict.update(posthoc=brier["a"], trained=brier["b"], diff=brier["diff"], ci=brier["ci"])
    floor = result.get("floor")
    beside = (f"; vs the base rate {floor['against']}: {_diff((floor.get('changes') or {}).get('brier'))}"
              if floor else "")
    verdict["detail"] = (f"Brier {brier['b']:.4f} trained vs {brier['a']:.4f} for {title(bar)} "
                         f"({brier['diff']:+.4f}{_ci(brier['ci'])}; {_others(result['changes'])}{beside}): "
                         + {PASS: "training beats the best post-hoc map",
                            FAIL: "the interval excludes any improvement on the best post-hoc map",
                            INCONCLUSIVE: "the interval does not decide"}[result["outcome"]])
    return verdict


def adds_to_posthoc(trainer: str, extractor: str, counted: Mapping[Any, Any],
                    fits: Mapping[Any, Mapping[str, Any]], settings: Any,
                    baseline: str = "baseline") -> dict[str, Any] | None:
    """Every ``<trainer> + c`` against the bar (and, reported, against ``baseline + c``)."""
    bar = select_bar(counted, fits)
    if bar is None:
        return None
    per = []
    for key in sorted((k for k in counted if k.label == trainer and k.extractor == extractor
                       and k.calibrator and counted[k].ids), key=lambda k: str(k.calibrator)):
        entry = {"calibrator": key.calibrator,
                 **against_bar(counted, fits, counted[key], settings)}
        same = next((k for k in counted if k.label == baseline and k.extractor == extractor
                     and k.calibrator == key.calibrator), None)
        if same is not None:
            entry["same_calibrator"] = compare(counted[same], counted[key], settings)
        per.append(entry)
    if not per:
        return None
    outcomes = {p["outcome"] for p in per}
    result = PASS if outcomes == {PASS} else FAIL if FAIL in outcomes else INCONCLUSIVE
    detail = "; ".join(
        f"{trainer} + {p['calibrator']}: Brier {_diff(p['changes'].get('brier'))} vs {title(bar)} "
        f"({p['outcome']})" for p in per if p.get("changes"))
    return {"outcome": result, "passed": result == PASS, "against": title(bar), "metric": "brier",
            "per_calibrator": per,
            "detail": detail + {PASS: "; training adds to the best post-hoc map with every calibrator",
                                FAIL: "; some trained map does no better than the best post-hoc map",
                                INCONCLUSIVE: "; the intervals do not decide"}[result]}


def _paired(a: Counted, b: Counted) -> tuple[Counted, Counted]:
    """Both rows restricted to the examples both scored (in ``a``'s order)."""
    if a.ids == b.ids:
        return a, b
    in_b = set(b.ids)
    common = [i for i in a.ids if i in in_b]
    return a.select(common), b.select(common)


def groups_of(c: Counted, settings: Any) -> list[str] | None:
    """The bootstrap's resampling unit for ``c``: its groups, or None to resample examples."""
    return c.groups if settings.bootstrap == "group" else None


def paired_metric(name: str, a: Counted, b: Counted, settings: Any) -> dict[str, Any]:
    """One registered metric's paired change ``b - a`` (``diff`` None and the reason if undefined)."""
    try:
        return paired_difference(a.confidence, a.correct, b.confidence, b.correct, [name], settings.config,
                                 resamples=settings.resamples, seed=settings.seed,
                                 groups=groups_of(a, settings))[name]
    except HarnessError as exc:
        return {"a": None, "b": None, "diff": None, "ci": None, "error": str(exc)}


def _ci(ci: list[float] | None) -> str:
    return f" [{ci[0]:+.4f}, {ci[1]:+.4f}]" if ci else ""


def _diff(change: Mapping[str, Any] | None) -> str:
    if not change or change.get("diff") is None:
        return "n/a"
    return f"{change['diff']:+.4f}{_ci(change.get('ci'))}"


def _others(changes: Mapping[str, Any]) -> str:
    return ", ".join(f"{name} {_diff(change)}" for name, change in changes.items() if name != "brier")
