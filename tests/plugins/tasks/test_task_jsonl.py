"""The ``jsonl`` task: any JSON Lines file of questions, with configurable field names."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.errors import InputError, ParameterError
from harness.machinery import registry
from harness.machinery.config import Config
from harness.tasks.jsonl_task import JsonlTask


def write_lines(path: Path, rows: list) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_default_field_names_and_extra_fields_kept_as_metadata(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "qa.jsonl", [
        {"id": "q1", "question": "Capital of France?", "answer": "Paris", "source": "atlas"},
        {"id": 7, "question": "2 + 2?", "answer": 4},
    ])
    first, second = JsonlTask(path=str(path)).examples()
    assert (first.id, first.question, first.answer) == ("q1", "Capital of France?", "Paris")
    assert first.group is None
    assert first.metadata == {"source": "atlas", "line": 1}
    assert (second.id, second.answer) == ("7", "4")  # numbers become text


def test_custom_field_names_a_group_and_line_numbers_as_ids(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "qa.jsonl", [
        {"prompt": "Who wrote Emma?", "target": "Jane Austen", "book": "Emma"},
        {"prompt": "When was Emma published?", "target": "1815", "book": "Emma"},
    ])
    task = JsonlTask(path=str(path), question_field="prompt", answer_field="target", group_field="book")
    examples = task.examples()
    assert [e.id for e in examples] == ["1", "2"]
    assert [e.group for e in examples] == ["Emma", "Emma"]
    assert examples[1].answer == "1815"


def test_blank_lines_are_skipped_and_ids_keep_the_real_line_number(tmp_path: Path) -> None:
    path = tmp_path / "qa.jsonl"
    path.write_text('{"question": "A?", "answer": "a"}\n\n{"question": "B?", "answer": "b"}\n')
    assert [e.id for e in JsonlTask(path=str(path)).examples()] == ["1", "3"]


@pytest.mark.parametrize(
    ("content", "match"),
    [
        ('{"question": "A?", "answer": "a"}\n{"question": "B?"}\n', r"qa.jsonl:2: no field 'answer'"),
        ('{"question": "A?", "answer": "a"}\nnot json\n', r"qa.jsonl:2: not valid JSON"),
        ('{"question": "A?", "answer": "a"}\n{"question": "B?", "answer"', r"qa.jsonl:2: not valid JSON"),
        ('{"question": "", "answer": "a"}\n', r"qa.jsonl:1: field 'question' must be a non-empty string"),
        ('{"question": "A?", "answer": ["a", "b"]}\n', r"qa.jsonl:1: field 'answer' must be"),
        ('{"id": 1, "question": "A?", "answer": "a"}\n{"id": "1", "question": "B?", "answer": "b"}\n',
         r"qa.jsonl:2: id '1' repeats line 1"),
        ("", r"qa.jsonl: no examples"),
    ],
)
def test_a_malformed_line_is_one_error_naming_file_and_line(tmp_path: Path, content: str, match: str) -> None:
    path = tmp_path / "qa.jsonl"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(InputError, match=match) as info:
        JsonlTask(path=str(path)).examples()
    assert "\n" not in str(info.value)


def test_a_missing_file_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        JsonlTask(path=str(tmp_path / "absent.jsonl")).examples()


def test_the_registry_asks_for_the_path_when_it_is_not_given(tmp_path: Path) -> None:
    with pytest.raises(ParameterError, match=r"needs parameter\(s\) path .*-p task.path="):
        registry.create("task", "jsonl", Config.load())
    path = write_lines(tmp_path / "qa.jsonl", [{"question": "A?", "answer": "a"}])
    task = registry.create("task", "jsonl", Config.load(overrides=[f"task.path={path}"]))
    assert [e.answer for e in task.examples()] == ["a"]


def test_a_subgroup_field_labels_the_slices_the_report_breaks_down(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "qa.jsonl", [
        {"question": "A?", "answer": "a", "domain": "art"},
        {"question": "B?", "answer": "b", "domain": "biology"},
    ])
    examples = JsonlTask(path=str(path), subgroup_field="domain").examples()
    assert [e.subgroup for e in examples] == ["art", "biology"]
    assert [e.subgroup for e in JsonlTask(path=str(path)).examples()] == [None, None]
