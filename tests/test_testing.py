"""``harness.testing``: the command line run in this process as a fresh interpreter would run it,
and a suite that sees only the built-in plugins and its own, whatever else is installed."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import pytest

import harness
from harness import testing
from harness.errors import PluginLoadError
from harness.machinery import plugin_loading, registry
from harness.testing import hide_installed_plugins, run_harness

PLUGIN = '''
import harness


@harness.hookimpl
def register_metrics(register):
    register("{metric}", lambda confidence, correct: 0.5)
'''


def fake_installed(site: Path, distribution: str, metric: str) -> Path:
    """A distribution installed into ``site`` as pip leaves one: a module and a ``.dist-info``
    with a ``harness`` entry point that registers the metric ``metric``."""
    module = distribution.replace("-", "_")
    site.mkdir(parents=True, exist_ok=True)
    (site / f"{module}.py").write_text(PLUGIN.format(metric=metric))
    info = site / f"{module}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {distribution}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[harness]\n{distribution} = {module}\n")
    return site


def builtin_metric_names() -> set[str]:
    return {s.name for s in registry.strategies("metric") if s.source == plugin_loading.OWN_DISTRIBUTION}


@pytest.fixture
def session_start(monkeypatch: pytest.MonkeyPatch) -> None:
    """The plugin loader as it is before ``hide_installed_plugins`` first runs (undone after)."""
    import importlib.metadata

    monkeypatch.setattr(plugin_loading, "metadata", importlib.metadata)
    monkeypatch.setattr(testing, "_hidden", [])
    monkeypatch.setattr(sys, "path", list(sys.path))
    modules = set(sys.modules)
    yield
    for name in set(sys.modules) - modules:  # the fake plugins' modules
        if name.endswith("_plugin"):
            del sys.modules[name]
    registry.reset()


def test_a_plugin_installed_before_the_session_is_hidden_one_installed_by_a_test_is_not(
    tmp_path: Path, session_start: None
) -> None:
    sys.path.insert(0, str(fake_installed(tmp_path / "before", "beside-plugin", "beside_metric")))
    registry.reset()
    assert "beside_metric" in registry.names("metric")  # what the four tests used to meet
    assert "beside-plugin:beside-plugin" in hide_installed_plugins()
    assert set(registry.names("metric")) == builtin_metric_names()
    sys.path.insert(0, str(fake_installed(tmp_path / "after", "own-plugin", "own_metric")))
    registry.reset()
    assert set(registry.names("metric")) == builtin_metric_names() | {"own_metric"}
    assert "own-plugin:own-plugin" not in hide_installed_plugins()  # a second call hides no more


def test_the_selection_variables_of_the_shell_are_forgotten(
    tmp_path: Path, session_start: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``HARNESS_PLUGINS=calibration-harness`` used to disable every plugin the tests install."""
    monkeypatch.setenv("HARNESS_PLUGINS", "calibration-harness")
    monkeypatch.setenv("HARNESS_DISABLE_PLUGINS", "own-plugin")
    hide_installed_plugins()
    assert "HARNESS_PLUGINS" not in os.environ and "HARNESS_DISABLE_PLUGINS" not in os.environ
    sys.path.insert(0, str(fake_installed(tmp_path / "after", "own-plugin", "own_metric")))
    registry.reset()
    assert "own_metric" in registry.names("metric")
    assert not registry.disabled_plugins() and not registry.unmatched_selection()


def test_a_fresh_interpreter_is_told_to_disable_the_hidden_plugins(
    tmp_path: Path, session_start: None
) -> None:
    site = fake_installed(tmp_path / "before", "beside-plugin", "beside_metric")
    sys.path.insert(0, str(site))
    hide_installed_plugins()
    os.environ["PYTHONPATH"] = os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])
    try:
        seen = run_harness("list", "--kind", "metric", cwd=tmp_path, fresh_interpreter=True)
    finally:
        os.environ["PYTHONPATH"] = os.environ["PYTHONPATH"].split(os.pathsep, 1)[1]
        if not os.environ["PYTHONPATH"]:
            del os.environ["PYTHONPATH"]
    assert seen.returncode == 0, seen.stderr
    assert "beside_metric" not in seen.stdout.split("not loaded")[0]
    assert "beside-plugin" in seen.stdout  # listed as not loaded, by HARNESS_DISABLE_PLUGINS


def test_the_session_started_with_the_built_in_plugins_only() -> None:
    registry.reset()
    assert {p.distribution for p in registry.loaded_plugins()} == {plugin_loading.OWN_DISTRIBUTION}
    assert plugin_loading.PLUGINS_ENV not in os.environ and plugin_loading.DISABLE_ENV not in os.environ


# -- run_harness in this process -------------------------------------------------------------

def test_in_process_gives_what_a_fresh_interpreter_gives(tmp_path: Path) -> None:
    """Output, exit status and the one-line error of bad input: the same both ways."""
    answers = tmp_path / "answers.jsonl"
    answers.write_text('{"confidence": 0.9, "correct": true}\n{"confidence": 0.4, "correct": false}\n')
    for args in (["metrics", "answers.jsonl", "--metric", "brier", "--no-ci"],
                 ["metrics", "missing.jsonl"], ["run", "--trainer", "no-such-trainer"], ["--version"]):
        here = run_harness(*args, cwd=tmp_path)
        there = run_harness(*args, cwd=tmp_path, fresh_interpreter=True)
        # (where a plugin is installed beside the harness, the child names it as not loaded)
        told = re.sub(r"; not loaded: .*HARNESS_DISABLE_PLUGINS\)$", "", there.stderr.rstrip("\n"))
        assert (here.returncode, here.stdout) == (there.returncode, there.stdout)
        assert here.stderr.rstrip("\n") == told
    assert here.returncode == 0 and here.stdout.startswith("harness, version")


def test_in_process_leaves_the_process_as_it_was(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HARNESS_PLUGINS", raising=False)
    cwd, path, environ = os.getcwd(), list(sys.path), dict(os.environ)
    site = fake_installed(tmp_path / "site", "passing-plugin", "passing_metric")
    result = run_harness("--plugins", "passing-plugin", "list", "--kind", "metric", sites=[site],
                         cwd=tmp_path, env={"HARNESS_EXTRA": "1"})
    assert result.returncode == 0, result.stderr
    assert "passing_metric" in result.stdout  # the site was seen, and --plugins selected it
    assert (os.getcwd(), sys.path, dict(os.environ)) == (cwd, path, environ)  # --plugins set a variable
    assert "passing_plugin" not in sys.modules
    assert "passing_metric" not in registry.names("metric")


def test_an_uncaught_exception_is_exit_status_1_with_its_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def explode(*args: object, **kwargs: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr("harness.cli.cli.main", explode)
    result = run_harness("list", cwd=tmp_path)
    assert result.returncode == 1
    assert "Traceback" in result.stderr and "RuntimeError: a bug" in result.stderr


# -- registered(): a plugin object for a `with` block ----------------------------------------

def test_registered_moves_an_installed_plugins_module_for_the_block_and_puts_it_back(
    tmp_path: Path, session_start: None
) -> None:
    """``pip install -e .`` then ``registered(my_module, ...)`` used to raise pluggy's bare
    ``ValueError: Plugin already registered under a different name``."""
    sys.path.insert(0, str(fake_installed(tmp_path / "site", "editable-plugin", "editable_metric")))
    registry.reset()
    import editable_plugin  # the very module the entry point registered

    assert registry.get("metric", "editable_metric").distribution == "editable-plugin"
    with testing.registered(editable_plugin, "mine"):
        assert registry.get("metric", "editable_metric").distribution == "test-dist"
        assert "editable-plugin:editable-plugin" not in {p.key for p in registry.loaded_plugins()}
    assert registry.get("metric", "editable_metric").distribution == "editable-plugin"
    assert "test-dist:mine" not in {p.key for p in registry.loaded_plugins()}
    assert not registry.duplicates("metric")


def test_registered_refuses_a_name_taken_by_another_plugin_in_one_line(
    harness_registry: registry.Registry,
) -> None:
    class Half:
        @harness.hookimpl
        def register_metrics(self, register):
            register("always_half", lambda confidence, correct: 0.5)

    with testing.registered(Half(), "taken"):
        with pytest.raises(PluginLoadError, match="test-dist:taken: that name is already taken by another"):
            with testing.registered(Half(), "taken"):
                pass  # pragma: no cover
        assert "always_half" in registry.names("metric")  # the first registration is untouched
    assert "always_half" not in registry.names("metric")


def test_registering_one_object_under_a_second_name_is_a_plugin_load_error(
    harness_registry: registry.Registry,
) -> None:
    plugin = object()
    harness_registry.register_plugin(plugin, name="first", distribution="d")
    already = "plugin d:second: this plugin object is already registered as d:first"
    with pytest.raises(PluginLoadError, match=already):
        harness_registry.register_plugin(plugin, name="second", distribution="d")
