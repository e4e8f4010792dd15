"""The ``simpleqa`` task: OpenAI's SimpleQA benchmark from its CSV file.

The CSV has the columns ``metadata,problem,answer``; ``metadata`` is a Python-literal
dict (``topic``, ``answer_type``, ``urls``), so it is parsed with ``ast.literal_eval``,
never as JSON. Some quoted fields hold newlines (the ``csv`` module reads them as one
record) and some answers carry stray whitespace (stripped). ``path`` is a local file or
an http(s) URL; a URL is downloaded once into the harness cache folder.

Example ids are ``simpleqa-NNNN``, the 1-based data row of the file, so they stay the
same whatever the filters.

``sample``: how ``--limit N`` picks its N questions. ``""`` (the default) is the harness's
seeded selection, as for every task; ``"simple-evals"`` picks them as openai/simple-evals
does (``random.Random(0).sample`` of every row of the file, whatever ``--seed``), so that
numbers on a subset compare with the reference's. With ``topics`` or ``answer_types`` the
rows are filtered first, which the reference never does.
"""

from __future__ import annotations

import ast
import csv
import hashlib
import os
import random
import tempfile
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness.errors import InputError, ParameterError
from harness.paths import cache_dir
from harness.records import Example

OFFICIAL_URL = "https://openaipublic.blob.core.windows.net/simple-evals/simple_qa_test_set.csv"
COLUMNS = ("metadata", "problem", "answer")
SAMPLES = ("", "simple-evals")


def _as_list(value: str | Sequence[str] | None, name: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value] if value else []
    if not all(isinstance(v, str) for v in value):
        raise ParameterError(f"task simpleqa: {name} must be a list of strings, got {value!r}")
    return list(value)


def is_url(path: str) -> bool:
    return path.startswith(("http://", "https://"))


def download(url: str, *, timeout: float = 60.0) -> Path:
    """The local copy of ``url`` in the cache folder, downloaded on first use."""
    digest = hashlib.sha256(url.encode("utf-8")).hexdigest()[:16]
    name = os.path.basename(url.split("?", 1)[0]) or "download"
    target = cache_dir() / "data" / f"{digest}-{name}"
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:
            while chunk := response.read(1 << 16):
                out.write(chunk)
        os.replace(tmp, target)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = f"HTTP {exc.code}" if isinstance(exc, urllib.error.HTTPError) else (
            getattr(exc, "reason", None) or exc)
        raise InputError(f"{url}: cannot download ({reason}); pass a local copy with -p task.path=FILE") \
            from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target


def read_simpleqa(path: str | os.PathLike[str]) -> list[Example]:
    """Every row of a SimpleQA CSV file as an ``Example`` (no filtering)."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if path.is_dir():
        raise InputError(f"{path}: is a directory, not a CSV file")
    examples: list[Example] = []
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            header = reader.fieldnames or []
            missing = [c for c in COLUMNS if c not in header]
            if missing:
                found = ", ".join(header) if header else "an empty file"
                raise InputError(
                    f"{path}: header lacks column(s) {', '.join(missing)} "
                    f"(expected {','.join(COLUMNS)}; found {found})"
                )
            line = reader.line_num + 1
            for row_number, row in enumerate(reader, start=1):
                examples.append(_example(path, line, row_number, row))
                line = reader.line_num + 1
    except UnicodeDecodeError:
        raise InputError(f"{path}: not a UTF-8 text file") from None
    except csv.Error as exc:
        raise InputError(f"{path}: not valid CSV ({exc})") from None
    return examples


def _example(path: Path, line: int, row_number: int, row: dict[str, Any]) -> Example:
    where = f"{path}:{line}"
    if None in row or any(row.get(c) is None for c in COLUMNS):
        raise InputError(f"{where}: expected 3 fields ({','.join(COLUMNS)})")
    try:
        metadata = ast.literal_eval(row["metadata"])
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        raise InputError(f"{where}: metadata is not a Python-literal dict") from None
    if not isinstance(metadata, dict):
        raise InputError(f"{where}: metadata is not a Python-literal dict")
    question, answer = row["problem"].strip(), row["answer"].strip()
    if not question or not answer:
        raise InputError(f"{where}: empty {'problem' if not question else 'answer'}")
    return Example(
        id=f"simpleqa-{row_number:04d}",
        question=question,
        answer=answer,
        metadata={**metadata, "row": row_number},
        subgroup=str(metadata["topic"]) if metadata.get("topic") is not None else None,
    )


def _select(examples: list[Example], key: str, wanted: list[str], source: str) -> list[Example]:
    if not wanted:
        return examples
    known = sorted({str(e.metadata.get(key)) for e in examples})
    unknown = [w for w in wanted if w not in known]
    if unknown:
        raise ParameterError(
            f"task simpleqa: no {key} {', '.join(map(repr, unknown))} in {source}; "
            f"known: {', '.join(known)}"
        )
    return [e for e in examples if e.metadata.get(key) in wanted]


class SimpleQATask:
    """SimpleQA questions from ``path`` (file or URL), optionally only some topics/answer types."""

    def __init__(
        self,
        path: str = OFFICIAL_URL,
        topics: Sequence[str] = (),
        answer_types: Sequence[str] = (),
        sample: str = "",
    ) -> None:
        if not isinstance(path, (str, os.PathLike)) or not str(path):
            raise ParameterError(f"task simpleqa: path must be a file or a URL, got {path!r}")
        if sample not in SAMPLES:
            raise ParameterError(f"task simpleqa: sample must be \"\" or \"simple-evals\", got {sample!r}")
        self.sample = sample
        self.path = str(path)
        self.topics = _as_list(topics, "topics")
        self.answer_types = _as_list(answer_types, "answer_types")

    def local_path(self) -> Path:
        return download(self.path) if is_url(self.path) else Path(self.path).expanduser()

    def examples(self) -> list[Example]:
        examples = read_simpleqa(self.local_path())
        examples = _select(examples, "topic", self.topics, self.path)
        return _select(examples, "answer_type", self.answer_types, self.path)

    def select(self, examples: Sequence[Example], limit: int | None, seed: int) -> list[Example] | None:
        """``limit`` of ``examples`` as simple-evals picks them (``sample="simple-evals"``), or
        ``None``: the harness's own seeded selection."""
        if self.sample != "simple-evals":
            return None
        if limit is None or limit >= len(examples):
            return list(examples)
        return random.Random(0).sample(list(examples), limit)
