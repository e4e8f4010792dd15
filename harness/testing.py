"""Helpers for testing a plugin with pytest: the ones the harness's own tests use.

In a plugin's own tests (see CONTRIBUTING.md, "Testing a plugin")::

    from harness.testing import installed, registered, run_harness

    def test_my_metric_through_the_command_line(tmp_path):
        with installed(Path(__file__).parents[1], tmp_path) as site:  # the distribution itself
            result = run_harness("list", "--kind", "metric", sites=[site], cwd=tmp_path)
        assert "my_metric" in result.stdout

- ``registered(plugin, name)``: a plugin object (a module, a class instance) registered in
  this process for a ``with`` block — the quickest test of a hook;
- ``install(source, folder)``: pip-installs a distribution (``--no-deps``: the harness is
  already installed, and need not be on an index) into ``folder/site``;
- ``installed(source, folder)``: the same, put on ``sys.path`` with the registry reloaded
  for a ``with`` block, so that its entry points load exactly as a user's would;
- ``run_harness(*args, sites=...)``: the ``harness`` command in a fresh interpreter that sees
  the given installed sites, as a ``subprocess.CompletedProcess``;
- the ``harness_registry`` fixture: a registry loaded afresh for one test and forgotten after
  (``pytest_plugins = ["harness.testing"]`` in a ``conftest.py`` makes it available).
"""

from __future__ import annotations

import contextlib
import importlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from types import ModuleType

import pytest

from harness import registry

__all__ = ["registered", "install", "installed", "run_harness", "harness_registry"]


@contextlib.contextmanager
def registered(plugin: object, name: str, distribution: str = "test-dist") -> Iterator[None]:
    """Register ``plugin`` in this process's registry for the duration of a ``with`` block."""
    registry.register_plugin(plugin, name=name, distribution=distribution)
    try:
        yield
    finally:
        registry.unregister_plugin(name, distribution=distribution)


def install(source: str | Path, folder: str | Path) -> Path:
    """pip-install the distribution at ``source`` (a folder with a ``pyproject.toml``) into
    ``folder/site``, without its dependencies; returns the site folder."""
    folder = Path(folder)
    copy = folder / "src"  # a copy, so that the build leaves nothing in the source tree
    skip = shutil.ignore_patterns("build", "*.egg-info", "__pycache__", "tests")
    shutil.copytree(source, copy, ignore=skip)
    site = folder / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--no-input", "--disable-pip-version-check",
         "--quiet", "--no-build-isolation", "--target", str(site), str(copy)],
        check=True, capture_output=True, text=True, timeout=300,
    )
    return site


@contextlib.contextmanager
def installed(source: str | Path, folder: str | Path) -> Iterator[Path]:
    """The distribution at ``source`` installed into ``folder`` and visible to this process:
    on ``sys.path``, its entry points loaded by a fresh registry. Everything is undone after."""
    site = install(source, folder)
    before = set(sys.modules)
    sys.path.insert(0, str(site))
    importlib.invalidate_caches()
    registry.reset()
    try:
        yield site
    finally:
        sys.path.remove(str(site))
        for name in set(sys.modules) - before:  # the plugin's own modules, imported from the site
            module = sys.modules.get(name)
            if _is_under(module, site):
                del sys.modules[name]
        importlib.invalidate_caches()
        registry.reset()


def _is_under(module: ModuleType | None, folder: Path) -> bool:
    origin = getattr(module, "__file__", None)
    return bool(origin) and Path(origin).resolve().is_relative_to(folder.resolve())


def run_harness(
    *args: str,
    sites: Iterable[str | Path] = (),
    cwd: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 300,
) -> subprocess.CompletedProcess[str]:
    """``harness ARGS`` in a fresh interpreter that also sees ``sites``; never raises on a
    non-zero exit (check ``returncode``)."""
    environment = {**os.environ, **(env or {})}
    paths = [str(s) for s in sites] + [p for p in [environment.get("PYTHONPATH", "")] if p]
    environment["PYTHONPATH"] = os.pathsep.join(paths)
    return subprocess.run([sys.executable, "-m", "harness.cli", *args], capture_output=True, text=True,
                          env=environment, cwd=cwd, timeout=timeout)


@pytest.fixture
def harness_registry() -> Iterator[registry.Registry]:
    """A registry loaded afresh for one test (plugins registered in it are forgotten after)."""
    registry.reset()
    try:
        yield registry.current()
    finally:
        registry.reset()
