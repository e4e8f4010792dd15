"""Post-hoc rows: calibrators fitted and applied so that no map scores an answer it was fitted on.

Two schemes, recorded in the run's manifest and report (``scheme``):

- ``crossfit`` (the default): grouped K-fold cross-fitting on the evaluated (held-out) split.
  The held-out answers are dealt into ``folds`` folds by group (``harness.statistics.splits.group_folds``,
  the bootstrap's unit, e.g. the entity); each answer's calibrated confidence comes from a map
  fitted on the other folds only. Both ``baseline + c`` and ``<trainer> + c`` are fitted this
  way, so no map ever sees answers its model was trained on.
- ``calibration`` (``--calibration-size``): a calibration part carved by group from the
  held-out questions; every map is fitted on it once (one shippable map) and every figure of
  the run is measured on the rest.

Every row is counted exactly as a report row is (``harness.statistics.outcomes.count``: missing confidences
imputed, abstentions by the judge's policy), and an answer with a missing confidence is imputed
first, then mapped. Beside the registered calibrators the core always adds the base-rate
constant for the untrained model (``BASE_RATE``: every answer gets the accuracy of the
baseline's training-split answers with that extractor), so the post-hoc bar
(``harness.statistics.posthoc_bar``) is never beaten by a model that says the training accuracy for
every answer (its Brier score is the constant's).

The bar is chosen without the test answers: each candidate ``baseline[extractor] + c`` is scored
by grouped K-fold cross-validation on the baseline's *training-split* answers (its Brier score),
stored in the row's ``calibrator_fit["selection"]``, so ``harness check`` re-derives the bar
from stored figures and calibrated confidences without refitting. A calibrator that cannot be
fitted (one class only, too few answers) yields no outcomes and its reason; the run goes on.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import attrs
import numpy as np

from harness.errors import HarnessError, InsufficientDataError
from harness.machinery.config import Config
from harness.statistics.outcomes import MISSING_CONFIDENCE, Outcome, count
from harness.statistics.splits import group_folds

#: the constant map that predicts the fitting answers' accuracy (always a candidate for the bar)
BASE_RATE = "base_rate"
#: folds of the grouped cross-fitting and of the bar's selection on the training split
FOLDS = 5
CROSSFIT = "crossfit"
CALIBRATION = "calibration"


@attrs.frozen(kw_only=True)
class Scheme:
    """How the post-hoc maps are fitted: cross-fitted (``calibration_ids`` empty) or on a
    calibration part of the held-out questions."""

    folds: int = FOLDS
    seed: int = 0
    calibration_ids: frozenset[str] = frozenset()
    #: False for an evaluation-only run: the maps are fitted on its (untrained) answers, the
    #: base rate is cross-fitted like any map and no bar is selected
    training_split: bool = True

    @property
    def name(self) -> str:
        return CALIBRATION if self.calibration_ids else CROSSFIT

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"scheme": self.name, "selection_folds": self.folds, "seed": self.seed}
        if self.calibration_ids:
            data["calibration_examples"] = len(self.calibration_ids)
        else:
            data["folds"] = self.folds
        if not self.training_split:
            data["training_split"] = False
        return data


def posthoc_scheme(exp: Any, *, training_split: bool = True) -> Scheme:
    """The scheme of an experiment (``harness.running.experiment.Experiment``): its seed, the
    calibration part it carved (``calibration_ids``), if any, and whether it has a training split."""
    return Scheme(folds=FOLDS, seed=exp.spec.seed,
                  calibration_ids=frozenset(getattr(exp, "calibration_ids", ()) or ()),
                  training_split=training_split)


class _BaseRate:
    """The base-rate constant: every confidence maps to the fitting answers' accuracy."""

    def __init__(self, accuracy: float) -> None:
        self.accuracy = accuracy

    def apply(self, confidence: np.ndarray) -> np.ndarray:
        return np.full(np.shape(confidence), self.accuracy, dtype=np.float64)


def _fit(name: str, config: Config | None, confidence: np.ndarray, correct: np.ndarray
         ) -> tuple[Any, dict[str, Any]]:
    """(an object with ``apply``, its fitted parameters) of calibrator ``name`` on these answers."""
    if name == BASE_RATE:
        if not len(correct):
            raise InsufficientDataError("the base rate needs at least one answer")
        rate = float(np.mean(correct))
        return _BaseRate(rate), {"accuracy": rate}
    from harness.statistics.calibration import fit_calibrator

    fitted = fit_calibrator(name, config, confidence, correct)
    return fitted, dict(fitted.fitted)


def _raw(outcomes: Sequence[Outcome], missing_confidence: float) -> np.ndarray:
    return np.array([missing_confidence if o.confidence is None else o.confidence for o in outcomes],
                    dtype=np.float64)


def calibrate(
    name: str,
    config: Config | None,
    train: Sequence[Outcome],
    test: Sequence[Outcome],
    *,
    not_attempted: str = "incorrect",
    missing_confidence: float = MISSING_CONFIDENCE,
) -> tuple[list[Outcome] | None, dict[str, Any]]:
    """One map fitted on ``train`` and applied to ``test``: (calibrated ``test`` outcomes or None,
    the fitted parameters or ``{"error": reason}``)."""
    fitted_on = count(train, not_attempted=not_attempted, missing_confidence=missing_confidence)
    try:
        fitted, params = _fit(name, config, fitted_on.confidence, fitted_on.correct)
        raw = _raw(test, missing_confidence)
        mapped = fitted.apply(raw) if len(raw) else raw
    except HarnessError as exc:
        return None, {"error": f"{name} could not be fitted: {exc}", "fitted_on": fitted_on.counts["scored"]}
    out = [o.with_confidence(float(c)) for o, c in zip(test, mapped, strict=True)]
    return out, {**params, "fitted_on": fitted_on.counts["scored"]}


def crossfit(
    name: str,
    config: Config | None,
    outcomes: Sequence[Outcome],
    *,
    folds: int = FOLDS,
    seed: int = 0,
    not_attempted: str = "incorrect",
    missing_confidence: float = MISSING_CONFIDENCE,
) -> tuple[list[Outcome] | None, dict[str, Any]]:
    """Grouped K-fold cross-fitting: each outcome's calibrated confidence from a map fitted on the
    other folds' answers (never its own group's). (outcomes in the given order or None, the
    fits: ``scheme``, ``folds`` and per fold its parameters and ``fitted_on``; or ``error``)."""
    fold_of = group_folds([o.group or o.example_id for o in outcomes], folds, seed)
    used = sorted(set(fold_of))
    if len(used) < 2:
        return None, {"scheme": CROSSFIT, "folds": len(used),
                      "error": f"{name} could not be cross-fitted: the answers hold fewer than 2 groups"}
    mapped: list[Outcome | None] = [None] * len(outcomes)
    per_fold = []
    for fold in used:
        inside = [i for i, f in enumerate(fold_of) if f == fold]
        others = [o for o, f in zip(outcomes, fold_of, strict=True) if f != fold]
        out, fit = calibrate(name, config, others, [outcomes[i] for i in inside],
                             not_attempted=not_attempted, missing_confidence=missing_confidence)
        if out is None:
            return None, {"scheme": CROSSFIT, "folds": len(used),
                          "error": f"{fit['error']} (fold {fold + 1} of {len(used)})"}
        for i, o in zip(inside, out, strict=True):
            mapped[i] = o
        per_fold.append({"fold": fold + 1, "scored": len(inside), **fit})
    return [o for o in mapped if o is not None], {
        "scheme": CROSSFIT, "folds": len(used), "fitted_on": min(f["fitted_on"] for f in per_fold),
        "per_fold": per_fold}


def cv_brier(name: str, config: Config | None, outcomes: Sequence[Outcome], *, folds: int = FOLDS,
             seed: int = 0, not_attempted: str = "incorrect",
             missing_confidence: float = MISSING_CONFIDENCE) -> dict[str, Any]:
    """The cross-validated Brier score of calibrator ``name`` on ``outcomes`` (grouped K folds):
    ``{"cv_brier", "n", "folds"}``, or ``{"error"}`` when it cannot be fitted."""
    mapped, fit = crossfit(name, config, outcomes, folds=folds, seed=seed, not_attempted=not_attempted,
                           missing_confidence=missing_confidence)
    if mapped is None:
        return {"cv_brier": None, "error": fit["error"]}
    c = count(mapped, not_attempted=not_attempted, missing_confidence=missing_confidence)
    if not c.ids:
        return {"cv_brier": None, "error": "no scored answer"}
    brier = float(np.mean((c.confidence - c.correct.astype(np.float64)) ** 2))
    return {"cv_brier": brier, "n": len(c.ids), "folds": fit["folds"]}


def posthoc_rows(
    rows: Mapping[Any, Sequence[Outcome]],
    on_train: Mapping[Any, Sequence[Outcome]],
    calibrators: Sequence[str],
    config: Config | None,
    scheme: Scheme,
    *,
    baseline: str = "baseline",
    not_attempted: str = "incorrect",
    missing_confidence: float | Mapping[str, float] = MISSING_CONFIDENCE,
) -> tuple[dict[Any, list[Outcome]], dict[Any, dict[str, Any]]]:
    """Every post-hoc row of a run: (outcomes of every row, the calibrated ones added; the fits).

    ``rows`` maps each evaluated row's key (``harness.statistics.assessment.RowKey``, no calibrator) to its
    held-out outcomes; ``on_train`` each baseline extractor's key to its training-split outcomes
    (for the bar's selection). Under the ``calibration`` scheme the raw rows are returned without
    the calibration part (every figure is measured on the rest). ``missing_confidence`` is what
    the core imputes for a missing confidence: one value, or one per extractor."""
    out: dict[Any, list[Outcome]] = {}
    fits: dict[Any, dict[str, Any]] = {}
    calibration = scheme.calibration_ids
    for key, items in rows.items():
        out[key] = [o for o in items if o.example_id not in calibration]
    for key, items in rows.items():
        imputed = (missing_confidence.get(key.extractor, MISSING_CONFIDENCE)
                   if isinstance(missing_confidence, Mapping) else missing_confidence)
        kw = {"not_attempted": not_attempted, "missing_confidence": imputed}
        names = list(calibrators) + ([BASE_RATE] if key.label == baseline else [])
        for name in names:
            ckey = attrs.evolve(key, calibrator=name)
            if name == BASE_RATE and key in on_train:  # "predict the training accuracy"
                mapped, fit = calibrate(name, config, on_train[key], out[key], **kw)
                fit = {"scheme": "training split", **fit}
            elif calibration:
                fit_on = [o for o in items if o.example_id in calibration]
                mapped, fit = calibrate(name, config, fit_on, out[key], **kw)
                fit = {"scheme": CALIBRATION, **fit}
            else:
                mapped, fit = crossfit(name, config, items, folds=scheme.folds, seed=scheme.seed, **kw)
            if key.label == baseline and key in on_train:  # the bar's selection: training split only
                fit["selection"] = cv_brier(name, config, on_train[key], folds=scheme.folds,
                                            seed=scheme.seed, **kw)
            fits[ckey] = fit
            if mapped is not None:
                out[ckey] = mapped
    return out, fits


def describe_scheme(posthoc: Mapping[str, Any] | None) -> str:
    """One sentence for the report: how the run's post-hoc maps were fitted (``report["posthoc"]``)."""
    if not posthoc:
        return "How these maps were fitted is not recorded (a run folder from an older version)."
    if posthoc.get("training_split") is False:  # an evaluation-only run
        if posthoc.get("scheme") == CALIBRATION:
            return (f"Evaluation only: each map (the base rate too) was fitted once on a calibration part "
                    f"of the selected questions ({posthoc.get('calibration_examples')} examples, carved "
                    "by group); every figure of this report is measured on the rest. No bar is selected "
                    "(no training split).")
        folds = posthoc.get("folds", FOLDS)
        return (f"Evaluation only: each answer's calibrated confidence comes from a map (the base rate "
                f"too) fitted on the other {folds - 1} of {folds} "
                "folds of the untrained model's answers (grouped cross-fitting: never its own group). "
                "No bar is selected (no training split).")
    if posthoc.get("scheme") == CALIBRATION:
        return (f"Each map was fitted once on a calibration part of the held-out questions "
                f"({posthoc.get('calibration_examples')} examples, carved by group); every figure of this "
                "report is measured on the rest. The base rate is the baseline's training accuracy.")
    return (f"Each held-out answer's calibrated confidence comes from a map fitted on the other "
            f"{posthoc.get('folds', FOLDS) - 1} of {posthoc.get('folds', FOLDS)} folds of held-out answers "
            "(grouped cross-fitting: never its own group, never a training question). The base rate "
            "is the baseline's training accuracy. The bar was chosen by cross-validation on the "
            "baseline's training-split answers.")


def fitted_summary(fit: Mapping[str, Any]) -> str:
    """One line of a fit's parameters for the report."""
    if "error" in fit:
        return str(fit["error"])
    parts = []
    for key, value in fit.items():
        if key == "per_fold" and isinstance(value, list):
            parts.append(f"{len(value)} folds: " + "; ".join(fitted_summary(
                {k: v for k, v in f.items() if k != "fold"}) for f in value))
        elif key == "selection" and isinstance(value, Mapping):
            if value.get("cv_brier") is not None:
                parts.append(f"training-split CV Brier {value['cv_brier']:.4g}")
        elif isinstance(value, float):
            parts.append(f"{key} {value:.4g}")
        elif isinstance(value, (int, str, bool)):
            parts.append(f"{key} {value}")
        elif isinstance(value, (list, tuple)):
            parts.append(f"{key} ({len(value)} values)")
    return ", ".join(parts)
