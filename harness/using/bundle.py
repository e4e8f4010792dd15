"""The bundle: a calibrated predictor in one self-contained folder, as ``harness export`` writes it.

A bundle folder holds ``bundle.json`` and, for a trained model, ``adapter/`` (the adapter's files,
copied). ``bundle.json`` (``FORMAT``, versioned; any other version is refused in one line):

- ``model``: ``reference`` (the hub id, local path or ``tiny`` name the run was given),
  ``resolved`` (the folder it resolved to in that run), ``adapter`` (``"adapter"`` or null) and
  ``trained_by`` (the trainer, or null);
- ``backend`` / ``extractor``: ``name`` and ``params`` as the run used them (no secrets: an API
  key is only ever read from the environment variable the backend names);
- ``counting``: ``not_attempted`` and ``missing_confidence``, the run's counting rules;
- ``calibrator``: the fitted map as plain JSON (``harness.statistics.calibration.saved_map``);
- ``threshold``: the abstention threshold (``harness.statistics.risk_control.ThresholdChoice``);
- ``sets``: the three disjoint sets of answers — ``map`` fits the map, ``threshold`` chooses the
  threshold, ``measure`` measures both — each with its ``role``, where it came from, ``n``, its
  example ``ids`` and a ``digest`` of its answers; ``threshold`` keeps its answers' ``scores``
  (calibrated confidence, correct, attempted), so ``harness predict --risk`` can choose again;
  ``measure`` holds the ``figures`` measured on it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs

from harness.artifacts import read_json
from harness.errors import InputError
from harness.statistics.outcomes import Outcome

FORMAT = "calibration-harness/bundle/v1"
FILE = "bundle.json"
ADAPTER = "adapter"


@attrs.frozen(kw_only=True)
class Bundle:
    """A bundle read back: its folder and the fields of its ``bundle.json``."""

    folder: Path
    model: dict[str, Any]
    backend: dict[str, Any]
    extractor: dict[str, Any]
    counting: dict[str, Any]
    calibrator: dict[str, Any]
    threshold: dict[str, Any]
    sets: dict[str, Any]
    source: dict[str, Any]

    @property
    def adapter(self) -> str | None:
        """The adapter's folder inside the bundle, or None for an untrained model."""
        return str(self.folder / self.model["adapter"]) if self.model.get("adapter") else None

    @property
    def digest(self) -> str:
        """A short digest of ``bundle.json``: what an answers file names its bundle by."""
        return hashlib.sha256((self.folder / FILE).read_bytes()).hexdigest()[:16]

    def threshold_scores(self) -> dict[str, list[Any]] | None:
        """The threshold set's calibrated confidences, correctness and attempted flags, if kept."""
        return self.sets.get("threshold", {}).get("scores")


def load_bundle(folder: Path) -> Bundle:
    """The bundle in ``folder``; one ``InputError`` line when it is not one this harness reads."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"{folder}: no such bundle folder (make one with `harness export`)")
    data = read_json(folder / FILE)
    version = data.get("format")
    if not isinstance(version, str) or not version.startswith("calibration-harness/bundle/"):
        raise InputError(f"{folder / FILE}: not a calibration-harness bundle ({FORMAT})")
    if version != FORMAT:
        raise InputError(f"{folder / FILE}: bundle version {version.rpartition('/')[2]}, which this "
                         f"calibration-harness does not read (it reads {FORMAT.rpartition('/')[2]})")
    try:
        fields = {f.name: data[f.name] for f in attrs.fields(Bundle) if f.name != "folder"}
    except KeyError as exc:
        raise InputError(f"{folder / FILE}: the bundle has no {exc.args[0]!r}") from None
    return Bundle(folder=folder, **fields)


def answers_digest(outcomes: Sequence[Outcome]) -> str:
    """The SHA-256 of a set's answers (id, grade, confidence), in id order: which answers a set holds."""
    rows = sorted((o.example_id, o.grade, o.confidence) for o in outcomes)
    return hashlib.sha256(json.dumps(rows).encode("utf-8")).hexdigest()


def describe_set(role: str, origin: str, outcomes: Sequence[Outcome], **extra: Any) -> dict[str, Any]:
    """A set's entry in ``bundle.json``: its role, where it came from, its ids and digest."""
    return {"role": role, "from": origin, "n": len(outcomes),
            "ids": sorted(o.example_id for o in outcomes), "digest": answers_digest(outcomes), **extra}
