"""The run manifest: what was run, with which effective parameters, versions and seeds.

Written atomically at the start of a run and again at its end. It holds parameters and
versions only: no environment value is ever copied in, so no secret can land here.
"""

from __future__ import annotations

import datetime as _dt
import importlib.metadata as metadata
import platform
from pathlib import Path
from typing import Any

from harness.artifacts import write_json_atomic

PACKAGES = (
    "calibration-harness", "torch", "transformers", "tokenizers", "peft", "trl", "accelerate",
    "numpy", "openai", "google-genai", "vllm", "pluggy",
)


def package_versions() -> dict[str, str]:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def write_manifest(path: Path, data: dict[str, Any]) -> None:
    base = {"python": platform.python_version(), "packages": package_versions()}
    write_json_atomic(path, {**base, **data})
