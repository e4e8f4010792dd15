"""``harness export``: one row of a finished run, written as a bundle (``harness.using.bundle``).

Three disjoint sets of answers, none doing two jobs:

- untrained model (``baseline + c``): the map is the run's own, fitted on the calibration part
  of the held-out split (``--calibration-size``; refitted here on the same answers and checked
  against the report's parameters); the threshold is chosen on the baseline's training-split
  answers, which the map never saw; both are measured on the rest of the held-out split, where
  the run measured every figure.
- trained model (``<trainer> + c``): its training-split answers are in-sample, so they cannot
  choose anything. The calibration part is split once more by group (seeded): the map is
  refitted on one half, the threshold chosen on the other (so the bundle's map is not the
  report's: ``sets.map`` says so), and both are measured on the rest.

A run whose maps were cross-fitted (the default) has no single map: export refuses in one line.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from harness.artifacts import read_json, read_jsonl, write_json_atomic
from harness.errors import HarnessError, InputError
from harness.machinery import registry
from harness.machinery.config import Config, Layer
from harness.records import Example, Prediction
from harness.reporting.run_folder import load_report
from harness.running.manifest import now, package_versions
from harness.running.stages import read_judgments
from harness.statistics import outcomes as outcome_files
from harness.statistics.calibration import Fitted, fit_calibrator, saved_map
from harness.statistics.outcomes import MISSING_CONFIDENCE, Outcome
from harness.statistics.posthoc import CALIBRATION
from harness.statistics.risk_control import ThresholdChoice, abstains, choose_threshold
from harness.statistics.seed_statistics import clopper_pearson
from harness.statistics.splits import group_split
from harness.using.bundle import ADAPTER, FILE, FORMAT, describe_set

#: fit-record keys the scheme adds beside a calibrator's own ``fitted()`` parameters
_SCHEME_KEYS = {"scheme", "fitted_on", "selection"}


def export_run(run: Path, row: str, out: Path, *, extractor: str | None = None, alpha: float | None = None,
               delta: float | None = None) -> dict[str, Any]:
    """Write the bundle of ``row`` (``"<model> + <calibrator>"``) of ``run`` into ``out``; its
    ``bundle.json`` as written. ``alpha`` / ``delta``: the threshold's risk level and failure
    probability (default: ``risk_alpha`` / ``risk_delta`` of the ``[criteria]`` in force)."""
    from harness.statistics.criteria import thresholds_from

    limits = thresholds_from(Config.load(), {})
    alpha = limits["risk_alpha"] if alpha is None else alpha
    delta = limits["risk_delta"] if delta is None else delta
    run = Path(run)
    report = load_report(run)
    if not exportable_rows(report):
        raise InputError(f"{run}: the run has no post-hoc calibrator rows to export (a run with a --trainer, "
                         "calibrators and --calibration-size has them)")
    if (report.get("posthoc") or {}).get("scheme") != CALIBRATION:
        raise InputError(f"{run}: its maps were cross-fitted (one per fold), so there is no single map to "
                         "export; rerun it with --calibration-size (e.g. 0.3)")
    chosen = _row(report, row, extractor)
    label, ext, name = chosen["label"], chosen["extractor"], chosen["calibrator"]
    manifest = read_json(run / "manifest.json")
    model, adapter = _model(run, manifest, label, ext)
    counting = _counting(report, ext)
    sets = _three_sets(run, label, ext, int(report.get("seed", 0)))
    map_set, threshold_set, rest = (sets[k][1] for k in ("map", "threshold", "measure"))
    fitted = _fit(name, manifest, map_set, counting)
    if label == "baseline":
        _same_as_report(fitted, chosen, run)
    conf_t, correct_t, attempted_t = _scores(fitted, threshold_set, counting)
    choice = choose_threshold(conf_t, correct_t, attempted_t, alpha=alpha, delta=delta)
    figures = _measure(fitted, choice, rest, counting)
    bundle = {
        "format": FORMAT, "created": now(), "harness_version": package_versions().get("calibration-harness"),
        "source": {"run": str(run.resolve()), "row": f"{label} + {name}", "extractor": ext,
                   "task": report.get("eval_task") or report.get("task"), "seed": report.get("seed")},
        "model": model,
        "backend": _strategy(manifest, "backend"),
        "extractor": {"name": ext, "params": next((e["params"] for e in manifest["config"]["extractors"]
                                                   if e["name"] == ext), {})},
        "counting": counting,
        "calibrator": saved_map(fitted, [o.confidence for o in map_set if o.confidence is not None]),
        "threshold": choice.to_dict(),
        "sets": {
            "map": describe_set("fits the map", sets["map"][0], map_set),
            "threshold": describe_set("chooses the threshold", sets["threshold"][0], threshold_set, scores={
                "ids": sorted(o.example_id for o in threshold_set), "confidence": conf_t.tolist(),
                "correct": correct_t.tolist(), "attempted": attempted_t.tolist()}),
            "measure": describe_set("measures the map and the threshold", sets["measure"][0], rest,
                                    figures=figures),
        },
    }
    _write(out, bundle, adapter)
    return bundle


def _three_sets(run: Path, label: str, extractor: str, seed: int) -> dict[str, tuple[str, list[Outcome]]]:
    """role -> (where its answers came from, the answers): ``map``, ``threshold`` and ``measure``,
    disjoint (see the module's docstring)."""
    examples = {e.id: e for e in (Example.from_dict(r) for r in read_jsonl(run / "examples.jsonl").rows)}
    calibration = set(read_json(run / "split.json").get("calibration") or ())
    trained = label != "baseline"
    stage = run / "trained" / label if trained else run / "baseline" / extractor
    evaluated = _stage_outcomes(stage / "test", examples)
    rest = ("the rest of the held-out split, where the run measured every figure",
            [o for o in evaluated if o.example_id not in calibration])
    on_calibration = [o for o in evaluated if o.example_id in calibration]
    if not trained:
        return {"map": ("the calibration part of the held-out split: the run's own map", on_calibration),
                "threshold": ("the untrained model's training-split answers, which the map never saw",
                              _stage_outcomes(run / "baseline" / extractor / "train", {})),
                "measure": rest}
    fit_part, _ = group_split([examples[o.example_id] for o in on_calibration], 0.5, seed)
    fit_ids = {e.id for e in fit_part}
    return {"map": ("one half (by group, seeded) of the calibration part of the held-out split; refitted, "
                    "so not the report's map: the trained model's training answers are in-sample",
                    [o for o in on_calibration if o.example_id in fit_ids]),
            "threshold": ("the other half of the calibration part",
                          [o for o in on_calibration if o.example_id not in fit_ids]),
            "measure": rest}


def exportable_rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The rows of a report with a registered calibrator's fitted map (not the base-rate constant)."""
    known = set(registry.names("calibrator"))
    return [r for r in report["rows"] if r.get("calibrator") in known and r.get("outcomes")]


def _row(report: dict[str, Any], wanted: str, extractor: str | None) -> dict[str, Any]:
    rows = exportable_rows(report)
    shown = ", ".join(sorted({f"{r['label']} + {r['calibrator']} [{r['extractor']}]" for r in rows}))
    label, _, calibrator = (part.strip() for part in wanted.partition("+"))
    matches = [r for r in rows if r["label"] == label and r["calibrator"] == calibrator]
    if extractor is not None:
        extractors = sorted({r["extractor"] for r in matches})
        matches = [r for r in matches if r["extractor"] == extractor]
        if not matches and extractors:
            raise InputError(f"row {wanted!r} has no extractor {extractor!r}; it has: "
                             f"{', '.join(extractors)}")
    if not matches:
        raise InputError(f"no row {wanted!r} to export (\"<model> + <calibrator>\"); "
                         f"the run has: {shown or 'none'}")
    if len(matches) > 1:
        raise InputError(f"row {wanted!r} exists for several extractors "
                         f"({', '.join(r['extractor'] for r in matches)}); choose one with --extractor")
    return matches[0]


def _counting(report: dict[str, Any], extractor: str) -> dict[str, Any]:
    counting = report["counting"]
    missing = (counting.get("missing_confidence_by_extractor") or {}).get(
        extractor, counting.get("missing_confidence", MISSING_CONFIDENCE))
    return {"not_attempted": counting["not_attempted"], "missing_confidence": float(missing)}


def _stage_outcomes(folder: Path, examples: dict[str, Example]) -> list[Outcome]:
    """One outcome per prediction of a stage folder, graded by its judgments (groups from ``examples``)."""
    predictions = {p.example_id: p for p in (Prediction.from_dict(r)
                                             for r in read_jsonl(folder / "predictions.jsonl").rows)}
    judgments = read_judgments(folder / "judgments.jsonl")
    known = [examples.get(i) or Example(id=i, question="", answer="") for i in predictions]
    return outcome_files.collect(known, predictions, judgments)


def _imputed(outcomes: Sequence[Outcome], counting: dict[str, Any]) -> np.ndarray:
    return np.array([counting["missing_confidence"] if o.confidence is None else o.confidence
                     for o in outcomes], dtype=np.float64)


def _fit(name: str, manifest: dict[str, Any], answers: Sequence[Outcome], counting: dict[str, Any]) -> Fitted:
    params = next((c["params"] for c in manifest["config"]["calibrators"] if c["name"] == name), {})
    layer = Layer("the run's calibrator parameters", {"calibrator": {name: params}})
    config = Config.load().with_layer(layer)
    c = outcome_files.count(answers, not_attempted=counting["not_attempted"],
                            missing_confidence=counting["missing_confidence"])
    return fit_calibrator(name, config, c.confidence, c.correct)


def _same_as_report(fitted: Fitted, row: dict[str, Any], run: Path) -> None:
    """The map refitted on the calibration part is the one the report shows (same answers, same map)."""
    stored = {k: v for k, v in (row.get("calibrator_fit") or {}).items() if k not in _SCHEME_KEYS}
    if json.loads(json.dumps(fitted.fitted)) != stored:
        raise HarnessError(f"{run}: the map refitted on the calibration answers differs from the one in "
                           f"report.json for {row['key']} (was the run folder changed?)")


def _scores(fitted: Fitted, answers: Sequence[Outcome], counting: dict[str, Any]
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(calibrated confidence, correct, attempted) of each answer in id order: a not-attempted answer
    is an abstention, a judge error a wrong answer, a missing confidence imputed, then mapped."""
    ordered = sorted(answers, key=lambda o: o.example_id)
    confidence = fitted.apply(_imputed(ordered, counting)) if ordered else np.zeros(0)
    correct = np.array([o.grade == "correct" for o in ordered], dtype=bool)
    attempted = np.array([o.grade != "not_attempted" for o in ordered], dtype=bool)
    return confidence, correct, attempted


def _measure(fitted: Fitted, choice: ThresholdChoice, answers: Sequence[Outcome],
             counting: dict[str, Any]) -> dict[str, Any]:
    """The map's Brier score and the threshold's coverage and realised risk on ``answers``, the last two
    with exact (Clopper-Pearson) 95% intervals: a measurement on a few hundred answers is no proof.
    (The intervals treat answers as independent; the report's group bootstrap does not.)"""
    confidence, correct, attempted = _scores(fitted, answers, counting)
    answered = attempted & ~abstains(confidence, choice)
    n_answered = int(answered.sum())
    errors = int((answered & ~correct).sum())
    c = outcome_files.count(answers, not_attempted=counting["not_attempted"],
                            missing_confidence=counting["missing_confidence"])
    mapped = fitted.apply(c.confidence) if len(c.ids) else np.zeros(0)
    brier = float(np.mean((mapped - c.correct) ** 2)) if len(c.ids) else None
    return {"n": len(answers), "brier": brier, "brier_n": len(c.ids), "answered": n_answered,
            "coverage": n_answered / len(answers) if len(answers) else None,
            "coverage_ci": clopper_pearson(n_answered, len(answers)),
            "errors": errors, "risk": errors / n_answered if n_answered else None,
            "risk_ci": clopper_pearson(errors, n_answered)}


def _model(run: Path, manifest: dict[str, Any], label: str, extractor: str
           ) -> tuple[dict[str, Any], Path | None]:
    """The bundle's ``model`` (the reference the run was given, what it resolved to, the adapter) and
    the trained adapter's folder to copy (None for the untrained model)."""
    reference = manifest["spec"]["model"]
    if label == "baseline":
        stage = read_json(run / "baseline" / extractor / "test" / "stage.json")
        return {"reference": reference, "resolved": stage["inputs"]["model"]["base"], "adapter": None,
                "trained_by": None}, None
    ref = read_json(run / "train" / label / "model.json")
    if ref.get("scope", "all") != "all" or not ref.get("adapter"):
        raise InputError(f"{run}: trainer {label!r} made no adapter that answers on its own "
                         f"(scope {ref.get('scope')!r}); its row cannot be exported")
    adapter = Path(ref["adapter"])
    if not adapter.is_dir():  # the run folder was moved: the adapter under its own train folder
        adapter = run / "train" / label / adapter.name
    return {"reference": reference, "resolved": ref["base"], "adapter": ADAPTER, "trained_by": label}, adapter


def _strategy(manifest: dict[str, Any], kind: str) -> dict[str, Any]:
    entry = manifest["config"][kind]
    return {"name": entry["name"], "params": entry["params"]}


def _write(out: Path, bundle: dict[str, Any], adapter: Path | None) -> None:
    """The bundle folder, whole or not at all: written beside ``out`` and renamed into place."""
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise InputError(f"{out}: exists and is not an empty folder; --out names a new bundle folder")
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        if adapter is not None:
            if not adapter.is_dir():
                raise InputError(f"{adapter}: the trained adapter is missing from the run folder")
            shutil.copytree(adapter, staging / ADAPTER)
        write_json_atomic(staging / FILE, bundle)
        if out.exists():
            out.rmdir()
        staging.rename(out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
