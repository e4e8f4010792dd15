"""Helpers for testing a plugin with pytest: the ones the harness's own tests use.

In a plugin's own tests (see CONTRIBUTING.md, "Testing a plugin")::

    from harness.testing import installed, registered, run_harness

    def test_my_metric_through_the_command_line(tmp_path):
        with installed(Path(__file__).parents[1], tmp_path) as site:  # the distribution itself
            result = run_harness("list", "--kind", "metric", sites=[site], cwd=tmp_path)
        assert "my_metric" in result.stdout

- ``registered(plugin, name)``: a plugin object (a module, a class instance) registered in
  this process for a ``with`` block — the quickest test of a hook (a module that an installed
  entry point already registered is moved to ``name`` for the block, then put back);
- ``install(source, folder)``: pip-installs a distribution (``--no-deps``: the harness is
  already installed, and need not be on an index) into ``folder/site``;
- ``installed(source, folder)``: the same, put on ``sys.path`` with the registry reloaded
  for a ``with`` block, so that its entry points load exactly as a user's would;
- ``run_harness(*args, sites=...)``: the ``harness`` command, as a
  ``subprocess.CompletedProcess``, run in this process through ``harness.cli.main`` (with its
  own working folder, environment, registry and captured output; a fraction of a second)
  or, with ``fresh_interpreter=True``, in a fresh interpreter (about 1.5 s: keep one such
  test per command, for the real exit status of the real command);
- ``hide_installed_plugins()``: hide from this process's plugin loader the third-party
  plugins installed right now (and forget ``HARNESS_PLUGINS`` / ``HARNESS_DISABLE_PLUGINS``),
  so that a test suite sees the built-ins and what its own tests install, whatever else is
  installed beside them; ``pytest_plugins = ["harness.testing"]`` does it at session start;
- the ``harness_registry`` fixture: a registry loaded afresh for one test and forgotten after
  (``pytest_plugins = ["harness.testing"]`` in a ``conftest.py`` makes it available).
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.metadata
import io
import os
import shutil
import subprocess
import sys
import traceback
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from types import ModuleType, SimpleNamespace

import pytest

from harness.machinery import plugin_loading, registry

__all__ = ["registered", "install", "installed", "run_harness", "hide_installed_plugins", "harness_registry"]


@contextlib.contextmanager
def registered(plugin: object, name: str, distribution: str = "test-dist") -> Iterator[None]:
    """Register ``plugin`` in this process's registry as ``distribution:name`` for the duration
    of a ``with`` block. A plugin already registered (the module of an installed entry point, as
    after ``pip install -e .``) is moved to that name for the block and put back after; a name
    taken by another plugin object is a ``PluginLoadError``."""
    current = registry.current()
    earlier = current.registration_of(plugin)
    if earlier is not None:
        current.unregister_plugin(earlier.name, distribution=earlier.distribution)
    try:
        current.register_plugin(plugin, name=name, distribution=distribution)
        try:
            yield
        finally:
            current.unregister_plugin(name, distribution=distribution)
    finally:
        if earlier is not None:
            current.readmit(plugin, earlier)


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
    fresh_interpreter: bool = False,
) -> subprocess.CompletedProcess[str]:
    """``harness ARGS`` that also sees ``sites``, as a ``CompletedProcess``; never raises on a
    non-zero exit (check ``returncode``).

    In this process by default: ``harness.cli.main`` with ``cwd`` as the working folder,
    ``env`` added to the environment, ``sites`` on ``sys.path``, a registry loaded afresh and
    stdout/stderr captured; all of it undone after (not thread-safe; ``timeout`` is not
    enforced). An uncaught exception prints its traceback to stderr with exit status 1, as
    the interpreter does. With ``fresh_interpreter=True``: ``python -m harness.cli`` in a
    subprocess, killed after ``timeout`` seconds.
    """
    if fresh_interpreter:
        environment = {**os.environ, **(env or {})}
        environment.update(_hidden_disabled(environment.get(plugin_loading.DISABLE_ENV, "")))
        paths = [str(s) for s in sites] + [p for p in [environment.get("PYTHONPATH", "")] if p]
        environment["PYTHONPATH"] = os.pathsep.join(paths)
        return subprocess.run([sys.executable, "-m", "harness.cli", *args], capture_output=True, text=True,
                              env=environment, cwd=cwd, timeout=timeout)
    return _run_in_process(list(args), [str(s) for s in sites], cwd, dict(env or {}))


def _run_in_process(
    args: list[str], sites: list[str], cwd: str | Path | None, env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    from harness.cli import main

    saved_env, saved_cwd, saved_path = dict(os.environ), os.getcwd(), list(sys.path)
    before = set(sys.modules)
    out, err = io.StringIO(), io.StringIO()
    code: int
    os.environ.update(env)
    sys.path[:0] = sites
    if sites:
        importlib.invalidate_caches()
    registry.reset()
    try:
        if cwd is not None:
            os.chdir(cwd)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                main(args)
                code = 0
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
                if exc.code is not None and not isinstance(exc.code, int):
                    print(exc.code, file=sys.stderr)
            except Exception:
                traceback.print_exc()
                code = 1
    finally:
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)
        sys.path[:] = saved_path
        for name in set(sys.modules) - before:  # the modules of the sites' plugins
            if any(_is_under(sys.modules.get(name), Path(site)) for site in sites):
                del sys.modules[name]
        if sites:
            importlib.invalidate_caches()
        registry.reset()
    return subprocess.CompletedProcess(["harness", *args], code, out.getvalue(), err.getvalue())


# -- isolation from the plugins installed beside the harness ---------------------------------

_hidden: list[importlib.metadata.EntryPoint] = []


def _where(ep: importlib.metadata.EntryPoint) -> tuple[str, str, str]:
    dist = ep.dist
    return (dist.name if dist is not None else "", str(getattr(dist, "_path", "")), ep.name)


def hide_installed_plugins() -> list[str]:
    """Hide the third-party ``harness`` entry points installed now from this process's plugin
    loader, and remove ``HARNESS_PLUGINS`` and ``HARNESS_DISABLE_PLUGINS`` from the
    environment. Entry points installed later (``installed()``, a ``sites`` folder) still load;
    a ``run_harness(..., fresh_interpreter=True)`` child gets the hidden ones in
    ``HARNESS_DISABLE_PLUGINS``. Returns the hidden ones as ``distribution:name``; calling it
    again hides nothing more than the first call did."""
    for variable in (plugin_loading.PLUGINS_ENV, plugin_loading.DISABLE_ENV):
        os.environ.pop(variable, None)
    if not isinstance(plugin_loading.metadata, SimpleNamespace):  # the first call: take the snapshot
        real = importlib.metadata
        _hidden[:] = [ep for ep in real.entry_points(group=plugin_loading.GROUP)
                      if ep.dist is None or ep.dist.name != plugin_loading.OWN_DISTRIBUTION]
        hidden = {_where(ep) for ep in _hidden}

        def entry_points(**selection: str) -> list[importlib.metadata.EntryPoint]:
            return [ep for ep in real.entry_points(**selection) if _where(ep) not in hidden]

        plugin_loading.metadata = SimpleNamespace(entry_points=entry_points)  # type: ignore[assignment]
        registry.reset()
    return [f"{d}:{n}" for d, _, n in map(_where, _hidden)]


def _hidden_disabled(disabled: str = "") -> dict[str, str]:
    """``HARNESS_DISABLE_PLUGINS`` for a child process: the hidden entry points (if any) added
    to ``disabled`` (what the test asked for)."""
    if not _hidden:
        return {}
    names = [n for n in disabled.split(",") if n.strip()] + [f"{d}:{n}" for d, _, n in map(_where, _hidden)]
    return {plugin_loading.DISABLE_ENV: ",".join(names)}


def pytest_configure(config: pytest.Config) -> None:
    """A suite with ``pytest_plugins = ["harness.testing"]`` sees only the built-in plugins and
    those its tests install (see ``hide_installed_plugins``)."""
    hide_installed_plugins()


@pytest.fixture
def harness_registry() -> Iterator[registry.Registry]:
    """A registry loaded afresh for one test (plugins registered in it are forgotten after)."""
    registry.reset()
    try:
        yield registry.current()
    finally:
        registry.reset()
