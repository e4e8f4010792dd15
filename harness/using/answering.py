"""Questions answered with a bundle: generate with its backend, extract the answer and raw confidence
with its extractor, map the confidence with its calibrator, abstain below its threshold.

``Answerer`` is what ``harness predict`` and ``harness serve`` share. The backend is the bundle's
with the bundle's parameters, or another one named by the user (``--backend``, ``--model``,
``-p backend.KEY=VALUE``): the map was fitted on the bundle's backend's confidences, so another
backend is the user's claim that it gives the same ones (e.g. vLLM serving the same weights).

Each answer is a dict: ``id``, ``answer``, ``raw_confidence`` (None when the extractor found none),
``confidence`` (calibrated; a missing raw confidence is imputed with the run's value first, and
``imputed`` says so), ``abstain`` (below the threshold, no threshold at all, or no answer given)
and ``error`` (why the generation or extraction failed, else None).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from harness.errors import InputError, ParameterError
from harness.machinery import registry
from harness.machinery.config import Config, Layer
from harness.records import Example
from harness.running import stages
from harness.running.experiment import check_capabilities
from harness.statistics.calibration import restore_calibrator
from harness.statistics.risk_control import ThresholdChoice, abstains, choose_threshold
from harness.using.bundle import Bundle


def threshold_for(bundle: Bundle, alpha: float | None = None, delta: float | None = None) -> ThresholdChoice:
    """The bundle's threshold, or one chosen again at risk ``alpha`` (and ``delta``, default the
    bundle's) on the threshold set's scores the bundle keeps."""
    stored = ThresholdChoice.from_dict(bundle.threshold)
    if alpha is None and delta is None:
        return stored
    scores = bundle.threshold_scores()
    if not scores:
        raise InputError(f"{bundle.folder}: the bundle keeps no threshold-set scores, so --risk cannot "
                         "choose a threshold again")
    return choose_threshold(np.asarray(scores["confidence"], dtype=np.float64), np.asarray(scores["correct"]),
                            np.asarray(scores["attempted"]), alpha=stored.alpha if alpha is None else alpha,
                            delta=stored.delta if delta is None else delta)


def check_overrides(overrides: Sequence[str], backend: str, task: str | None = None) -> None:
    """``-p`` may set the backend's parameters (and the questions task's), never the extractor's or the
    calibrator's — the map was fitted on the bundle's — and a key no selected strategy has is an error."""
    for text in overrides:
        kind = text.partition(".")[0]
        if kind in ("extractor", "calibrator"):
            raise ParameterError(f"-p {text}: a bundle's {kind} is fixed (its map was fitted on that "
                                 f"{kind}'s confidences); only backend parameters may change")
    selected = {"backend": [(backend, registry.get("backend", backend).parameters())]}
    if task is not None:
        selected["task"] = [(task, registry.get("task", task).parameters())]
    Config.load(None, overrides).check_overrides(selected, registry.get)


class Answerer:
    """A bundle made ready to answer: its backend and extractor built, its map loaded."""

    def __init__(self, bundle: Bundle, *, backend: str | None = None, model: str | None = None,
                 overrides: Sequence[str] = (), choice: ThresholdChoice | None = None,
                 scratch: Path | None = None, progress: bool = False, task: str | None = None) -> None:
        self.bundle = bundle
        self.backend_name = backend or bundle.backend["name"]
        check_overrides(overrides, self.backend_name, task)
        extractor = bundle.extractor["name"]
        params: dict[str, Any] = {"extractor": {extractor: bundle.extractor["params"]}}
        if self.backend_name == bundle.backend["name"]:
            params["backend"] = {self.backend_name: bundle.backend["params"]}
        config = Config.load(None, overrides).with_layer(Layer(f"bundle {bundle.folder}", params))
        self.model = model or bundle.model["reference"]
        self.backend = registry.create("backend", self.backend_name, config, model=self.model,
                                       adapter=bundle.adapter)
        self.extractor = registry.create("extractor", extractor, config)
        check_capabilities(extractor, self.extractor, self.backend_name, self.backend)
        if hasattr(self.extractor, "to_judge"):
            raise InputError(f"extractor {extractor!r} grades its own follow-up answers with a judge, which "
                             "a bundle does not carry; it cannot answer new questions")
        self.calibrator = restore_calibrator(bundle.calibrator)
        self.choice = choice or threshold_for(bundle)
        self.scratch = scratch
        self.progress = progress

    def answer(self, examples: Sequence[Example]) -> list[dict[str, Any]]:
        """One answer dict per example, in their order."""
        if not examples:
            return []
        requests = stages.requests_for(self.extractor, examples)
        generations = {g.example_id: g for g in stages.serve(self.backend, requests, self.progress)}
        responses = None
        if hasattr(self.extractor, "follow_ups"):
            if self.scratch is None:
                raise InputError(f"extractor {self.bundle.extractor['name']!r} asks follow-up questions, "
                                 "which need a scratch file")
            responses = stages.follow_up(self.scratch, self.backend, self.extractor, examples, generations,
                                         progress=self.progress)
        predictions = stages.extract(None, self.extractor, examples, generations, responses)
        raw = [predictions[e.id].confidence for e in examples]
        missing = float(self.bundle.counting["missing_confidence"])
        imputed = np.array([missing if c is None else float(c) for c in raw], dtype=np.float64)
        calibrated = self.calibrator.apply(imputed)
        below = abstains(calibrated, self.choice)
        out = []
        for k, example in enumerate(examples):
            prediction = predictions[example.id]
            given = bool(prediction.answer.strip()) and prediction.error is None
            out.append({"id": example.id, "answer": prediction.answer,
                        "raw_confidence": raw[k], "confidence": float(calibrated[k]),
                        "imputed": raw[k] is None, "abstain": bool(below[k]) or not given,
                        "error": prediction.error})
        return out
