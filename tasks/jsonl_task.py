"""The ``jsonl`` task: questions and gold answers from any JSON Lines file.

One JSON object per line; the names of the question, answer, id and (optional) group
fields are parameters. A line without the id field gets its line number as id. Every
other field of a line is kept in ``Example.metadata``. A malformed line is an
``InputError`` naming the file and line — no example is ever dropped silently.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from harness.artifacts import read_jsonl
from harness.errors import InputError, ParameterError
from harness.records import Example


def _scalar_text(value: Any) -> str | None:
    """A string, or a number rendered as text; ``None`` for anything else."""
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return None


class JsonlTask:
    """Examples read from ``path``, one JSON object per line."""

    def __init__(
        self,
        path: str,
        question_field: str = "question",
        answer_field: str = "answer",
        id_field: str = "id",
        group_field: str = "",
        subgroup_field: str = "",
    ) -> None:
        if not isinstance(path, (str, os.PathLike)) or not str(path):
            raise ParameterError(f"task jsonl: path must be a file, got {path!r} (-p task.path=FILE.jsonl)")
        for name, value in (("question_field", question_field), ("answer_field", answer_field),
                            ("id_field", id_field)):
            if not isinstance(value, str) or not value:
                raise ParameterError(f"task jsonl: {name} must be a non-empty field name")
        self.path = Path(path).expanduser()
        self.question_field = question_field
        self.answer_field = answer_field
        self.id_field = id_field
        self.group_field = group_field or None
        self.subgroup_field = subgroup_field or None

    def examples(self) -> list[Example]:
        read = read_jsonl(self.path, tolerate_torn=False)
        if not read.rows:
            raise InputError(f"{self.path}: no examples (the file is empty)")
        examples: list[Example] = []
        lines_of: dict[str, int] = {}
        for row, line in zip(read.rows, read.line_numbers, strict=True):
            example = self._example(row, line)
            if example.id in lines_of:
                raise InputError(
                    f"{self.path}:{line}: id {example.id!r} repeats line {lines_of[example.id]}"
                )
            lines_of[example.id] = line
            examples.append(example)
        return examples

    def _example(self, row: dict[str, Any], line: int) -> Example:
        where = f"{self.path}:{line}"
        question = self._text(row, self.question_field, where)
        answer = self._text(row, self.answer_field, where)
        if self.id_field in row:
            example_id = _scalar_text(row[self.id_field])
            if example_id is None or not example_id:
                raise InputError(f"{where}: field {self.id_field!r} must be a string or a number")
        else:
            example_id = str(line)
        group = None
        if self.group_field is not None:
            group = self._text(row, self.group_field, where)
        subgroup = None
        if self.subgroup_field is not None:
            subgroup = self._text(row, self.subgroup_field, where)
        used = {self.question_field, self.answer_field, self.id_field, self.group_field}
        metadata = {k: v for k, v in row.items() if k not in used}
        metadata["line"] = line
        return Example(id=example_id, question=question, answer=answer, metadata=metadata, group=group,
                       subgroup=subgroup)

    @staticmethod
    def _text(row: dict[str, Any], field: str, where: str) -> str:
        if field not in row:
            fields = ", ".join(row) or "(none)"
            raise InputError(f"{where}: no field {field!r} (fields: {fields})")
        text = _scalar_text(row[field])
        if text is None or not text.strip():
            raise InputError(f"{where}: field {field!r} must be a non-empty string")
        return text.strip()
