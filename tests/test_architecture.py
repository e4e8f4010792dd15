"""docs/architecture.md stays true: every file it names exists, and no import runs against the flow.

The layers, lowest first: the base modules, the plugin machinery, judging, statistics and
verdicts, reporting, running, using (export, predict, serve), the entry points. A module may
import its own layer and the layers below it, never one above: statistics never imports running
or reporting, the plugin machinery imports none of the other subpackages. Imports inside
functions count too (the graph is ``tests/test_import_graph.py``'s).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from test_import_graph import core_graph

ROOT = Path(__file__).resolve().parents[1]
MAP = ROOT / "docs" / "architecture.md"

BASE = {"errors", "records", "strategies", "paths", "artifacts", "web"}
SUBPACKAGES = {"machinery": 1, "judging": 2, "statistics": 3, "reporting": 4, "running": 5, "using": 6}
ENTRY = 7  # harness itself, cli, api, testing and the old paths kept for plugins
LAYER_NAMES = {0: "base", 1: "plugin machinery", 2: "judging", 3: "statistics", 4: "reporting",
               5: "running", 6: "using", 7: "entry points"}


def layer(module: str) -> int:
    parts = module.split(".")
    if len(parts) == 1:
        return ENTRY
    if parts[1] in SUBPACKAGES:
        return SUBPACKAGES[parts[1]]
    return 0 if parts[1] in BASE else ENTRY


def against_the_flow(graph: dict[str, set[str]]) -> list[str]:
    """Each import of ``graph`` from a lower layer into a higher one, as ``a -> b (layer names)``."""
    return sorted(f"{a} -> {b} ({LAYER_NAMES[layer(a)]} imports {LAYER_NAMES[layer(b)]})"
                  for a, targets in graph.items() for b in targets if layer(b) > layer(a))


def named_paths() -> list[str]:
    return sorted(set(re.findall(r"`((?:harness|plugins|tasks|tests|docs)/[\w./]*)`",
                                 MAP.read_text(encoding="utf-8"))))


def test_the_map_names_the_file_of_every_step_of_the_flow():
    text = MAP.read_text(encoding="utf-8")
    steps = ["task", "backend", "extractor", "judge", "outcomes", "metrics", "verdicts", "report", "view"]
    for step in steps:
        assert re.search(rf"^\| \d+\. {step}", text, re.M), f"no row for the step {step!r}"
    assert len(named_paths()) > 30


@pytest.mark.parametrize("path", named_paths())
def test_every_file_the_map_names_exists(path: str):
    assert (ROOT / path).exists(), f"docs/architecture.md names {path}, which does not exist"


def test_every_module_of_the_core_has_a_layer_and_every_subpackage_is_on_the_map():
    text = MAP.read_text(encoding="utf-8")
    for name in SUBPACKAGES:
        assert f"`harness/{name}/`" in text
    found = {m.split(".")[1] for m in core_graph() if m.count(".") >= 1}
    assert found - BASE - set(SUBPACKAGES) <= {"cli", "api", "testing", "calibration", "tracking", "registry"}


def test_the_check_finds_an_import_against_the_flow():
    graph = {"harness.statistics.scoring": {"harness.running.experiment", "harness.errors"},
             "harness.running.experiment": {"harness.statistics.scoring"}}
    assert against_the_flow(graph) == [
        "harness.statistics.scoring -> harness.running.experiment (statistics imports running)"]


def test_no_import_runs_against_the_flow():
    assert against_the_flow(core_graph()) == []


# -- names of strategies written in the core ----------------------------------------------------

def strategy_names_in_the_core() -> dict[str, set[str]]:
    """Per core file, the string literals (docstrings aside) equal to a registered strategy's name."""
    import ast

    from harness.machinery import registry

    names = {s.name for s in registry.strategies()}
    found: dict[str, set[str]] = {}
    for path in sorted((ROOT / "harness").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                      if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
                      and node.body and isinstance(node.body[0], ast.Expr)
                      and isinstance(node.body[0].value, ast.Constant)}
        hits = {node.value for node in ast.walk(tree) if isinstance(node, ast.Constant)
                and isinstance(node.value, str) and node.value in names and id(node) not in docstrings}
        if hits:
            found[str(path.relative_to(ROOT))] = hits
    return found


def owned_names() -> dict[str, set[str]]:
    """The table "Names the core owns" of docs/architecture.md: file -> the names it may write."""
    section = MAP.read_text(encoding="utf-8").split("## Names the core owns", 1)[1]
    owned = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0].startswith("`harness/"):
            owned[cells[0].strip("`")] = set(re.findall(r"`([\w:]+)`", cells[1]))
    return owned


def test_every_strategy_name_in_the_core_is_one_the_map_says_it_owns_and_why():
    owned, found = owned_names(), strategy_names_in_the_core()
    unexplained = {f: sorted(n - owned.get(f, set())) for f, n in found.items() if n - owned.get(f, set())}
    assert not unexplained, ("add each to docs/architecture.md, 'Names the core owns' (saying why), "
                             f"or make it a setting: {unexplained}")
    stale = {f: sorted(n - found.get(f, set())) for f, n in owned.items() if n - found.get(f, set())}
    assert not stale, f"docs/architecture.md lists names its files no longer write: {stale}"
    assert len(owned) > 10  # the table was read


def test_the_tests_mirror_the_code():
    """Every folder of tests/ holding tests names a subpackage of harness/ or a kind of plugins/
    (tasks included), and no test module's name is used twice (pytest imports them by name)."""
    folders = {p.parent.relative_to(ROOT / "tests") for p in (ROOT / "tests").rglob("test_*.py")
               if "_dist" not in str(p)}
    for folder in folders - {Path(".")}:
        parts = folder.parts
        code = (ROOT / "harness" / folder) if parts[0] != "plugins" else (
            ROOT / "tasks" if parts[1:] == ("tasks",) else ROOT / folder)
        assert code.is_dir(), f"tests/{folder} mirrors no part of the code ({code} is not a folder)"
    names = [p.name for p in (ROOT / "tests").rglob("test_*.py") if "_dist" not in str(p)]
    assert len(names) == len(set(names))
