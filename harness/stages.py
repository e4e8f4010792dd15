"""Resumable stages of a run folder: generate, extract, judge (``harness.outcomes`` counts them).

A stage folder holds ``stage.json`` (a fingerprint of its inputs and configuration).
When the fingerprint still matches, a rerun keeps every record already written and only
does what is missing; when it changed (or ``force``), the folder is cleared first.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness.artifacts import JsonlAppender, read_jsonl, write_json_atomic, write_jsonl_atomic
from harness.contract import check_generation, label
from harness.errors import PluginContractError
from harness.records import Example, Generation, Judgment, Prediction
from harness.strategies import GenerationRequest


def fingerprint(data: Any) -> str:
    text = json.dumps(data, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def prepare(
    folder: Path,
    inputs: dict[str, Any],
    *,
    force: bool = False,
    marker: str = "stage.json",
    stale: Sequence[str] | None = None,
) -> bool:
    """Make ``folder`` ready for ``inputs``; True when earlier records were kept.

    When the fingerprint in ``folder/marker`` differs (or ``force``), what the old inputs
    made is removed first: the whole folder, or only the files named in ``stale``.
    """
    path = folder / marker
    wanted = fingerprint(inputs)
    if path.exists() and not force:
        try:
            if json.loads(path.read_text())["fingerprint"] == wanted:
                return True
        except (ValueError, KeyError):
            pass
    if stale is None:
        shutil.rmtree(folder, ignore_errors=True)
    else:
        for name in stale:
            (folder / name).unlink(missing_ok=True)
    folder.mkdir(parents=True, exist_ok=True)
    write_json_atomic(path, {"fingerprint": wanted, "inputs": inputs})
    return False


def generate(
    path: Path, backend: Any, extractor: Any, examples: Sequence[Example], *, progress: bool = True
) -> dict[str, Generation]:
    """Generations for every example, resuming from the records already in ``path``."""
    done = read_generations(path)
    todo = [
        GenerationRequest(example_id=e.id, prompt=extractor.prompt(e), stop=tuple(extractor.stop))
        for e in examples
        if e.id not in done
    ]
    if todo:
        wanted = {r.example_id for r in todo}
        where = label(backend, "backend")
        with JsonlAppender(path) as out:
            for generation in backend.generate(todo, progress=progress):
                check_generation(generation, wanted, where)
                wanted.discard(generation.example_id)
                out.write(generation)
                done[generation.example_id] = generation
        if wanted:
            raise PluginContractError(f"{where}: generate() gave no Generation for {len(wanted)} of "
                                      f"{len(todo)} requests (e.g. {sorted(wanted)[0]!r})")
    return done


def read_generations(path: Path) -> dict[str, Generation]:
    """The generations already in ``path``, by example id."""
    done: dict[str, Generation] = {}
    if path.exists():
        for row in read_jsonl(path).rows:
            generation = Generation.from_dict(row)
            done[generation.example_id] = generation
    return done


def extract(
    path: Path | None, extractor: Any, examples: Sequence[Example], generations: dict[str, Generation]
) -> dict[str, Prediction]:
    """Predictions of every example (cheap and deterministic: always recomputed), written to
    ``path`` unless it is None.

    An extractor whose ``extract`` returns anything but a ``Prediction`` is a
    ``PluginContractError`` naming it and its distribution."""
    predictions = {}
    for example in examples:
        generation = generations[example.id]
        if generation.error:
            prediction = Prediction(
                example_id=example.id, answer="", confidence=None,
                extractor=extractor.name, error=f"generation failed: {generation.error}",
            )
        else:
            prediction = extractor.extract(generation)
            if not isinstance(prediction, Prediction):
                raise PluginContractError(
                    f"{label(extractor, 'extractor')}: extract() returned {type(prediction).__name__}, "
                    f"not a harness.records.Prediction (example {example.id!r})"
                )
        predictions[example.id] = prediction
    if path is not None:
        write_jsonl_atomic(path, [predictions[e.id] for e in examples])
    return predictions


def read_judgments(path: Path) -> dict[str, Judgment]:
    judgments: dict[str, Judgment] = {}
    if path.exists():
        for row in read_jsonl(path).rows:
            judgment = Judgment.from_dict(row)
            judgments[judgment.example_id] = judgment  # the last word on an id wins
    return judgments
