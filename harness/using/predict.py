"""``harness predict``: a questions file answered with a bundle into an append-only JSON Lines file.

The questions are read by a task the harness has (``jsonl`` by default, ``-p task.KEY=VALUE`` for
its field names; ``simpleqa``'s CSV too), so a malformed line is one line naming file and line.
Each answer (``harness.using.answering``) is one line of ``--out``, appended as soon as its batch is
answered (``harness.artifacts.JsonlAppender``), with the ``bundle`` digest, the ``threshold`` it
was decided with and a fingerprint of the other ``settings`` (``--backend``, ``--model``, ``-p``): a
killed predict, run again, answers only what is missing, and refuses to mix answers made otherwise
into one file.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness.artifacts import JsonlAppender, read_jsonl
from harness.errors import InputError
from harness.machinery import contract, registry
from harness.machinery.config import Config
from harness.running.stages import fingerprint
from harness.using.answering import Answerer, check_overrides, threshold_for
from harness.using.bundle import load_bundle

#: questions answered per batch: what a kill can cost, and the backend's batch at most
BATCH = 64


def predict(bundle_folder: Path, questions: Path, out: Path, *, task: str = "jsonl",
            alpha: float | None = None, delta: float | None = None, backend: str | None = None,
            model: str | None = None, overrides: Sequence[str] = (), batch: int = BATCH,
            progress: bool = False) -> dict[str, Any]:
    """Answer every question of ``questions`` not yet in ``out``; counts of what ``out`` holds."""
    bundle = load_bundle(bundle_folder)
    choice = threshold_for(bundle, alpha, delta)
    check_overrides(overrides, backend or bundle.backend["name"], task)
    config = Config.load(None, (f"task.path={questions}", *overrides))
    task_object = registry.create("task", task, config)
    examples = contract.check_examples(task_object.examples(), contract.label(task_object, "task"))
    # what decides the answers: the bundle, the threshold, and any other backend or parameter
    settings = fingerprint({"backend": backend, "model": model, "overrides": sorted(overrides)})
    stamp = {"bundle": bundle.digest, "threshold": choice.threshold, "settings": settings}
    done = _done(Path(out), stamp)
    todo = [e for e in examples if e.id not in done]
    if todo:
        scratch = Path(out).with_name(Path(out).name + ".follow_ups.jsonl")
        answerer = Answerer(bundle, backend=backend, model=model, overrides=overrides, choice=choice,
                            scratch=scratch, progress=progress, task=task)
        with JsonlAppender(out) as writer:
            for start in range(0, len(todo), batch):
                chunk = todo[start:start + batch]
                for example, answer in zip(chunk, answerer.answer(chunk), strict=True):
                    writer.write({**answer, "question": example.question, **stamp})
                    done[example.id] = answer["abstain"]
    abstained = sum(bool(a) for a in done.values())
    return {"questions": len(examples), "resumed": len(examples) - len(todo),
            "answered": len(done) - abstained, "abstained": abstained, "threshold": choice}


def _done(out: Path, stamp: dict[str, Any]) -> dict[str, bool]:
    """The ids ``out`` already answers (id -> abstained), after checking they were answered alike."""
    if not out.exists():
        return {}
    done: dict[str, bool] = {}
    for row in read_jsonl(out).rows:
        differs = [k for k, v in stamp.items() if row.get(k) != v]
        if differs:
            shown = ", ".join(f"{k} {row.get(k)!r}, not {stamp[k]!r}" for k in differs)
            raise InputError(f"{out}: holds answers made otherwise ({shown}); choose another --out")
        done[str(row["id"])] = bool(row.get("abstain"))
    return done
