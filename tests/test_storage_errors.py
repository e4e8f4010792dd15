"""Failures to store or read the run folder's and the cache's files that are not plain
``OSError``s with a file name still end in one line naming the path (exit 2), not a traceback:
a JSON file of the run folder that is not JSON, a model save that fails inside safetensors (which
raises its own ``SafetensorError``), an ``OSError`` raised by a library's ``write`` without a
file name."""

from __future__ import annotations

import errno
import json
from pathlib import Path
from typing import Any

import pytest

from harness.artifacts import read_json, storing
from harness.errors import InputError, StorageError


@pytest.mark.parametrize(("content", "message"), [
    (b'{"base": "tiny", "adap', r"model\.json: not valid JSON \(Unterminated string.*\); remove it to redo"),
    (b"\xff\xfe", r"model\.json: not valid JSON"),
    (b'["tiny"]', r"model\.json: expected a JSON object, got list$"),
])
def test_a_json_file_that_is_not_a_json_object_is_one_line(tmp_path: Path, content: bytes,
                                                           message: str) -> None:
    (tmp_path / "model.json").write_bytes(content)
    with pytest.raises(InputError, match=message) as caught:
        read_json(tmp_path / "model.json")
    assert "\n" not in str(caught.value)


def test_a_json_file_that_cannot_be_read_names_it(tmp_path: Path) -> None:
    (tmp_path / "model.json").mkdir()
    with pytest.raises(StorageError, match=r"model\.json: cannot read: Is a directory$"):
        read_json(tmp_path / "model.json")
    assert read_json(_written(tmp_path / "ok.json", b'{"a": 1}')) == {"a": 1}


def _written(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_a_safetensors_save_that_fails_names_the_folder(tmp_path: Path) -> None:
    """safetensors raises SafetensorError, not OSError, when it cannot write (here: a file where
    its folder should be; on a full disk: 'No space left on device')."""
    torch = pytest.importorskip("torch")
    from safetensors.torch import save_file

    (tmp_path / "blocker").write_text("a file, not a folder")
    target = tmp_path / "blocker" / "adapter"
    with pytest.raises(StorageError) as caught:
        with storing(target, "cannot save the model"):
            save_file({"w": torch.zeros(2)}, str(target / "model.safetensors"))
    assert str(caught.value).startswith(f"{target}: cannot save the model: Error while serializing: I/O")
    assert "\n" not in str(caught.value)


def test_an_os_error_without_a_file_name_gets_the_path(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match=r"adapter: cannot save the model: No space left on device$"):
        with storing(tmp_path / "adapter", "cannot save the model"):
            raise OSError(errno.ENOSPC, "No space left on device")  # as a library's write() raises it


def test_other_errors_pass_through_unchanged(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="a bug"):
        with storing(tmp_path):
            raise RuntimeError("a bug")
    with pytest.raises(ValueError, match="I/O error"):  # only the libraries' own error types count
        with storing(tmp_path):
            raise ValueError("I/O error")


def test_a_trainer_save_that_fails_is_one_line_naming_the_adapter_folder(tmp_path: Path) -> None:
    """Through the trainers' shared save: what a full disk does to a safetensors save ends as
    ``<folder>: cannot save the model: ...`` (a ``StorageError``: one line, exit 2), and no half
    adapter folder is left for a rerun to take as finished."""
    from harness.plugins.trainers.common import save_adapter

    class FullDisk:
        def save_pretrained(self, folder: Any) -> None:
            Path(folder).mkdir(parents=True)
            raise type("SafetensorError", (Exception,), {})(
                "Error while serializing: I/O error: No space left on device (os error 28)")

    folder = tmp_path / "train" / "implicit" / "adapter"
    with pytest.raises(StorageError) as caught:
        save_adapter(FullDisk(), FullDisk(), folder)
    assert str(caught.value) == (f"{folder}: cannot save the model: Error while serializing: I/O error: "
                                 "No space left on device (os error 28)")
    assert caught.value.exit_code == 2
    assert not folder.exists()


def test_a_stage_marker_that_is_not_an_object_redoes_the_stage(tmp_path: Path) -> None:
    from harness.running import stages

    (tmp_path / "stage.json").write_text("[1, 2]")
    (tmp_path / "generations.jsonl").write_text("{}\n")
    assert stages.prepare(tmp_path, {"model": "m"}) is False  # not kept: cleared and marked anew
    assert not (tmp_path / "generations.jsonl").exists()
    assert json.loads((tmp_path / "stage.json").read_text())["inputs"] == {"model": "m"}
