"""Resumable stages of a run folder: generate, follow up, extract, judge (``harness.statistics.outcomes``
counts them).

The follow-up stage serves a multi-request extractor (``harness.strategies.FollowUpExtractor``):
the requests it names per example once the greedy answer is there — samples, a second turn,
scores of continuations — batched across examples and kept in ``follow_ups.jsonl`` (one line
per example and key), so a rerun asks only for what is missing.

A stage folder holds ``stage.json`` (a fingerprint of its inputs and configuration).
When the fingerprint still matches, a rerun keeps every record already written and only
does what is missing; when it changed (or ``force``), the folder is cleared first.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

from harness.artifacts import JsonlAppender, read_jsonl, write_json_atomic, write_jsonl_atomic
from harness.errors import HarnessError, PluginContractError
from harness.machinery.contract import check_generation, check_scores, label
from harness.records import Example, Generation, Judgment, Prediction, Scores
from harness.strategies import GenerationRequest, ScoreRequest

Responses = dict[str, dict[str, Generation | Scores | Judgment]]  # example id -> key -> what came back


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
        except (ValueError, KeyError, TypeError):  # not a stage marker: the stage is redone
            pass
    if stale is None:
        shutil.rmtree(folder, ignore_errors=True)
    else:
        for name in stale:
            (folder / name).unlink(missing_ok=True)
    folder.mkdir(parents=True, exist_ok=True)
    write_json_atomic(path, {"fingerprint": wanted, "inputs": inputs})
    return False


def requests_for(extractor: Any, examples: Sequence[Example]) -> list[GenerationRequest]:
    """The greedy generation request of each example under ``extractor``'s prompt."""
    return [GenerationRequest(example_id=e.id, prompt=extractor.prompt(e), stop=tuple(extractor.stop))
            for e in examples]


def generate(
    path: Path, backend: Any, extractor: Any, examples: Sequence[Example], *, progress: bool = True,
    reuse: dict[str, Generation] | None = None,
) -> dict[str, Generation]:
    """Generations for every example, resuming from the records already in ``path``; those in
    ``reuse`` (the same requests answered by the same model in this run) are copied, not redone."""
    done = read_generations(path)
    todo = [r for r in requests_for(extractor, examples) if r.example_id not in done]
    copied = [reuse[r.example_id] for r in todo if reuse and r.example_id in reuse]
    if copied:
        with JsonlAppender(path) as out:
            for generation in copied:
                out.write(generation)
                done[generation.example_id] = generation
        todo = [r for r in todo if r.example_id not in done]
    if todo:
        with JsonlAppender(path) as out:
            for generation in serve(backend, todo, progress):
                out.write(generation)
                done[generation.example_id] = generation
    return done


def serve(backend: Any, requests: Sequence[GenerationRequest | ScoreRequest],
          progress: bool = True) -> Iterator[Generation | Scores]:
    """What ``backend`` gives for ``requests`` (all generation or all score requests), each
    checked as it comes; a request left unanswered is a ``PluginContractError``."""
    where = label(backend, "backend")
    if requests and isinstance(requests[0], ScoreRequest):
        method = getattr(backend, "score", None)
        if method is None:
            raise HarnessError(f"{where} cannot score continuations (it has no score())")
        unanswered = {r.example_id: len(r.continuations) for r in requests}  # id -> continuations
        for scores in method(requests, progress=progress):
            check_scores(scores, unanswered, where)
            del unanswered[scores.example_id]
            yield scores
        wanted = set(unanswered)
        verb, record = "score", "Scores"
    else:
        wanted = {r.example_id for r in requests}
        for generation in backend.generate(requests, progress=progress):
            check_generation(generation, wanted, where)
            wanted.discard(generation.example_id)
            yield generation
        verb, record = "generate", "Generation"
    if wanted:
        raise PluginContractError(f"{where}: {verb}() gave no {record} for {len(wanted)} of "
                                  f"{len(requests)} requests (e.g. {sorted(wanted)[0]!r})")


def follow_up(
    path: Path, backend: Any, extractor: Any, examples: Sequence[Example],
    generations: dict[str, Generation], *, progress: bool = True,
) -> Responses:
    """What the backend gives for each example's follow-up requests (``extractor.follow_ups``),
    resuming from ``path``. The generation and score requests of all examples go to the backend
    in one call each (requests of one kind are batched across examples); an example whose
    greedy generation failed asks for none."""
    done = read_follow_ups(path)
    pending: dict[str, tuple[str, str]] = {}  # request id -> (example id, key)
    todo: list[Any] = []
    where = label(extractor, "extractor")
    for example in examples:
        generation = generations[example.id]
        if generation.error:
            continue
        asked = extractor.follow_ups(example, generation)
        if not isinstance(asked, Mapping):
            raise PluginContractError(f"{where}: follow_ups() returned {type(asked).__name__}, not a mapping "
                                      f"of key -> GenerationRequest | ScoreRequest")
        for key, request in asked.items():
            if not isinstance(request, (GenerationRequest, ScoreRequest)):
                raise PluginContractError(f"{where}: follow_ups()[{key!r}] is {type(request).__name__}, "
                                          f"not a GenerationRequest or ScoreRequest")
            if key in done.get(example.id, {}):
                continue
            request_id = f"{example.id}\x1f{key}"  # unique: keys are unique per example
            pending[request_id] = (example.id, str(key))
            todo.append(attrs.evolve(request, example_id=request_id))
    with JsonlAppender(path) as out:
        for kind in (GenerationRequest, ScoreRequest):
            batch = [r for r in todo if isinstance(r, kind)]
            for answer in serve(backend, batch, progress) if batch else ():
                example_id, key = pending[answer.example_id]
                answer = attrs.evolve(answer, example_id=example_id)
                out.write({"example_id": example_id, "key": key,
                           "kind": "scores" if isinstance(answer, Scores) else "generation",
                           "record": answer.to_dict()})
                done.setdefault(example_id, {})[key] = answer
    return done


def judge_follow_ups(extractor: Any, examples: Sequence[Example], generations: dict[str, Generation],
                     responses: Responses, grader: Any) -> Responses:
    """The verdicts an extractor asks for on its follow-up answers (``to_judge``: key -> (example,
    prediction), e.g. "is this sample the same answer as the greedy one?"), graded for every
    example in one call of ``grader`` (the judge runner: cache, retries) and added to each
    example's responses under the extractor's keys as ``Judgment`` records."""
    where = label(extractor, "extractor")
    items, keys = [], []
    for example in examples:
        if generations[example.id].error:
            continue
        own = responses.get(example.id, {})
        asked = extractor.to_judge(example, generations[example.id], own)
        if not isinstance(asked, Mapping):
            raise PluginContractError(f"{where}: to_judge() returned {type(asked).__name__}, not a mapping "
                                      f"of key -> (Example, Prediction)")
        for key, item in asked.items():
            if key in own:
                raise PluginContractError(f"{where}: to_judge() key {key!r} is also a follow-up's key")
            if not (isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], Example)
                    and isinstance(item[1], Prediction)):
                raise PluginContractError(f"{where}: to_judge()[{key!r}] is not an (Example, Prediction) "
                                          "pair")
            items.append(item)
            keys.append((example.id, key))
    judged = {example_id: dict(answers) for example_id, answers in responses.items()}
    for (example_id, key), judgment in zip(keys, grader.judgments(items), strict=True):
        judged.setdefault(example_id, {})[key] = judgment
    return judged


def read_follow_ups(path: Path) -> Responses:
    """The follow-up answers already in ``path``, by example id and key."""
    done: Responses = {}
    if path.exists():
        for row in read_jsonl(path).rows:
            record = Scores if row.get("kind") == "scores" else Generation
            done.setdefault(row["example_id"], {})[row["key"]] = record.from_dict(row["record"])
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
    path: Path | None, extractor: Any, examples: Sequence[Example], generations: dict[str, Generation],
    responses: Responses | None = None,
) -> dict[str, Prediction]:
    """Predictions of every example (cheap and deterministic: always recomputed), written to
    ``path`` unless it is None. A multi-request extractor (``responses`` given) gets each
    example's follow-up answers as ``extract(generation, responses)``.

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
            prediction = (extractor.extract(generation) if responses is None
                          else extractor.extract(generation, responses.get(example.id, {})))
            if not isinstance(prediction, Prediction):
                raise PluginContractError(
                    f"{label(extractor, 'extractor')}: extract() returned {type(prediction).__name__}, "
                    f"not a harness.records.Prediction (example {example.id!r})"
                )
        predictions[example.id] = prediction
    if path is not None:
        write_jsonl_atomic(path, [predictions[e.id] for e in examples])
    return predictions


def copy_judgments(source: Path, target: Path, predictions: dict[str, Prediction]) -> int:
    """Append to ``target`` the judgments of ``source`` whose answer is the one predicted here and
    that ``target`` does not hold yet (verdicts shared between extractors that answered alike);
    how many were copied. The judge runner's resume decides which of them stand."""
    have = read_judgments(target)
    copied = [j for example_id, j in read_judgments(source).items()
              if example_id in predictions and example_id not in have
              and j.answer == predictions[example_id].answer and j.error is None]
    if copied:
        with JsonlAppender(target) as out:
            for judgment in copied:
                out.write(judgment)
    return len(copied)


def read_judgments(path: Path) -> dict[str, Judgment]:
    judgments: dict[str, Judgment] = {}
    if path.exists():
        for row in read_jsonl(path).rows:
            judgment = Judgment.from_dict(row)
            judgments[judgment.example_id] = judgment  # the last word on an id wins
    return judgments
