"""The core's import graph has no circle, counting the imports inside functions too.

A lazy import inside a function still ties two modules together; a circle of them means
that neither can be understood, tested or loaded without the other. The test reads every
module of ``harness/`` with ``ast`` and looks for a cycle among the ``harness.*`` imports.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

CORE = Path(__file__).resolve().parents[1] / "harness"


def module_name(path: Path) -> str:
    parts = path.relative_to(CORE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, known: set[str]) -> set[str]:
    """The ``harness`` modules that ``path`` imports anywhere in its text."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.split(".")[0] != "harness":
                continue
            for alias in node.names:  # `from harness import registry` names a module
                candidate = f"{node.module}.{alias.name}"
                found.add(candidate if candidate in known else node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "harness")
    return {m for m in found if m in known}


def core_graph() -> dict[str, set[str]]:
    paths = {module_name(p): p for p in CORE.rglob("*.py")}
    known = set(paths)
    graph = {}
    for name, path in paths.items():
        parent = name.rpartition(".")[0]
        # a module importing its own package's __init__ is not a circle worth reporting
        graph[name] = imports_of(path, known) - {name, parent}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as a path (first node repeated at the end), or ``None``."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_the_cycle_finder_finds_a_circle_and_passes_a_tree():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_the_graph_sees_imports_inside_functions():
    graph = core_graph()
    # imported inside a function there
    assert "harness.machinery.params" in graph["harness.machinery.registry"]


def test_no_module_of_the_core_imports_itself_back_through_others():
    cycle = find_cycle(core_graph())
    assert cycle is None, "import circle: " + " -> ".join(cycle or [])


@pytest.mark.parametrize("module", ["harness.machinery.kinds", "harness.machinery.config",
                                    "harness.machinery.plugin_loading"])
def test_the_lower_layers_import_nothing_from_the_registry(module: str):
    assert "harness.machinery.registry" not in core_graph()[module]


#: one interpreter that has loaded no ``harness`` module (only the third-party libraries the
#: core imports at its top, to share their cost) forks a child per module: each child imports
#: its one module into that clean state and exits 0, or 1 with the error on stderr
FORKING_IMPORTER = """
import importlib, os, sys, traceback
for library in ("numpy", "attrs", "click", "pluggy", "filelock", "tqdm"):
    try:
        importlib.import_module(library)
    except ImportError:
        pass
assert not any(m == "harness" or m.startswith("harness.") for m in sys.modules)
failed = []
for name in sys.argv[1:]:
    pid = os.fork()
    if pid == 0:
        try:
            importlib.import_module(name)
        except BaseException:
            traceback.print_exc()
            sys.stderr.flush()
            os._exit(1)
        os._exit(0)
    if os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) != 0:
        failed.append(name)
print("\\n".join(failed))
"""


def test_every_core_module_imports_alone_in_a_fresh_interpreter():
    names = sorted(n for n in core_graph() if n != "harness.cli")
    # a clean interpreter per module, by fork: an import that works only after another fails here
    result = subprocess.run([sys.executable, "-c", FORKING_IMPORTER, *names], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    failed = result.stdout.split()
    assert not failed, f"{failed}: {result.stderr[-2000:]}"


def test_the_forking_importer_catches_a_module_that_fails_alone(tmp_path):
    (tmp_path / "alone_ok.py").write_text("")
    (tmp_path / "alone_broken.py").write_text("raise RuntimeError('broken at import')\n")
    result = subprocess.run([sys.executable, "-c", FORKING_IMPORTER, "alone_ok", "alone_broken"],
                            capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert result.stdout.split() == ["alone_broken"]
    assert "RuntimeError: broken at import" in result.stderr
