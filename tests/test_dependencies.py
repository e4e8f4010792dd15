"""Every dependency declared in pyproject.toml earns its place: the package imports it."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
SOURCES = [p for folder in ("harness", "plugins", "tasks") for p in (ROOT / folder).rglob("*.py")]
#: distribution name -> the module it is imported as, where they differ
MODULE = {"google-genai": "google.genai", "scikit-learn": "sklearn"}


def declared() -> list[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return [re.split(r"[<>=!~;\[ ]", spec, maxsplit=1)[0] for spec in project["dependencies"]]


@pytest.mark.parametrize("distribution", declared())
def test_every_runtime_dependency_is_imported_somewhere(distribution: str) -> None:
    module = MODULE.get(distribution, distribution.replace("-", "_"))
    pattern = re.compile(rf"^\s*(import|from) {re.escape(module)}(\.|\s|$)", re.M)
    users = [p for p in SOURCES if pattern.search(p.read_text(encoding="utf-8"))]
    assert users, f"{distribution} is declared in pyproject.toml but nothing in the package imports it"
