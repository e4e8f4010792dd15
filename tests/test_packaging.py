"""The built wheel: only the ``harness`` namespace, with plugins, tasks, registry.toml and
the ``harness`` entry points inside, and it works on its own.

The wheel is built from a copy of the source tree, so the build leaves nothing in the
repository.
"""

from __future__ import annotations

import configparser
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from plugin_helpers import pip

ROOT = Path(__file__).resolve().parents[1]
# Repository folder -> where its modules live in the installed package.
MAPPED = {"harness": "harness", "plugins": "harness/plugins", "tasks": "harness/tasks"}

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    source = tmp_path_factory.mktemp("source")
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "build", "dist")
    for name in MAPPED:
        shutil.copytree(ROOT / name, source / name, symlinks=True, ignore=ignore)
    for name in ("pyproject.toml", "registry.toml", "README.md", "LICENSE"):
        if (ROOT / name).exists():
            shutil.copy2(ROOT / name, source / name)
    out = tmp_path_factory.mktemp("dist")
    pip("wheel", "--no-build-isolation", "--wheel-dir", str(out), str(source))
    (built,) = out.glob("calibration_harness-*.whl")
    return built


def _names(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as archive:
        return archive.namelist()


def _read(wheel: Path, name: str) -> str:
    with zipfile.ZipFile(wheel) as archive:
        return archive.read(name).decode("utf-8")


def test_the_only_top_level_package_is_harness(wheel: Path):
    top = {name.split("/", 1)[0] for name in _names(wheel)}
    dist_info = {t for t in top if t.endswith(".dist-info")}
    assert len(dist_info) == 1
    assert top - dist_info == {"harness"}


def test_plugins_and_tasks_are_mapped_under_harness(wheel: Path):
    names = set(_names(wheel))
    assert "harness/plugins/__init__.py" in names
    assert "harness/plugins/metrics/__init__.py" in names
    assert "harness/tasks/__init__.py" in names
    assert not any(n.startswith(("plugins/", "tasks/", "tests/")) for n in names)


def test_every_file_of_the_source_tree_is_in_the_wheel(wheel: Path):
    """A subpackage or data file that the build configuration forgets would vanish from installs."""
    names = set(_names(wheel))
    missing = []
    for folder, target in MAPPED.items():
        for module in (ROOT / folder).rglob("*"):
            if "__pycache__" in module.parts or module.suffix == ".pyc" or not module.is_file():
                continue
            wanted = f"{target}/{module.relative_to(ROOT / folder).as_posix()}"
            if wanted not in names:
                missing.append(wanted)
    assert not missing, f"not in the wheel: {', '.join(sorted(missing))}"


def test_the_wheel_holds_the_real_registry_toml_not_a_link(wheel: Path):
    assert (ROOT / "harness" / "registry.toml").resolve() == (ROOT / "registry.toml").resolve()
    assert _read(wheel, "harness/registry.toml") == (ROOT / "registry.toml").read_text(encoding="utf-8")


def test_the_entry_points_are_in_group_harness_and_point_inside_the_package(wheel: Path):
    (entry_points,) = [n for n in _names(wheel) if n.endswith(".dist-info/entry_points.txt")]
    parser = configparser.ConfigParser()
    parser.optionxform = str  # keep the names' case
    parser.read_string(_read(wheel, entry_points))
    assert set(parser.sections()) == {"console_scripts", "harness"}
    assert parser["console_scripts"]["harness"] == "harness.cli:main"
    plugins = dict(parser["harness"])
    assert {"metrics", "tasks"} <= set(plugins)
    assert all(value.startswith("harness.") for value in plugins.values())


def test_the_installed_wheel_lists_its_strategies_on_its_own(wheel: Path, tmp_path: Path):
    site = tmp_path / "site"
    pip("install", "--target", str(site), str(wheel))
    env = {**os.environ, "PYTHONPATH": str(site)}
    code = "import harness; print(harness.__file__)"
    where = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path
    )
    assert where.stdout.strip() == str(site / "harness" / "__init__.py")  # the wheel's, not the source's
    result = subprocess.run(
        [sys.executable, "-m", "harness.cli", "list", "--kind", "metric"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert ["accuracy", "calibration-harness"] in [line.split()[:2] for line in result.stdout.splitlines()]
