"""The plugin contract stays honest: every hook is tested and documented in CONTRIBUTING.md,
each kind's section names every member of its Protocol, and the example package printed
there is the one the tests install."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from harness import strategies
from harness.machinery import hookspecs
from harness.machinery.hookspecs import PROJECT
from harness.machinery.kinds import HOOKS, KINDS

ROOT = Path(__file__).resolve().parents[2]
TESTS = ROOT / "tests"
CONTRIBUTING = ROOT / "CONTRIBUTING.md"


def hookspec_names() -> list[str]:
    """Functions of ``harness.machinery.hookspecs`` that carry pluggy's hookspec marker."""
    return sorted(
        name
        for name, value in vars(hookspecs).items()
        if callable(value) and getattr(value, f"{PROJECT}_spec", None) is not None
    )


def section(name: str) -> str:
    """The text of CONTRIBUTING.md under ``### name``, up to the next heading."""
    text = CONTRIBUTING.read_text(encoding="utf-8")
    match = re.search(rf"^### {re.escape(name)}\s*$(.*?)(?=^#{{1,3}} )", text, re.M | re.S)
    assert match, f"CONTRIBUTING.md has no '### {name}' section"
    return match.group(1)


def test_there_is_one_hookspec_per_kind():
    assert hookspec_names() == sorted(HOOKS)


@pytest.mark.parametrize("hook", hookspec_names())
def test_every_hookspec_has_a_test(hook: str):
    this = Path(__file__).name
    mentioned = [p.name for p in TESTS.rglob("test_*.py") if p.name != this and hook in p.read_text("utf-8")]
    assert mentioned, f"no test in tests/ mentions the hook {hook}"


@pytest.mark.parametrize("hook", hookspec_names())
def test_every_hookspec_has_a_documented_section(hook: str):
    assert len(section(hook).split()) > 30, f"the '### {hook}' section is too thin to be a contract"


def test_every_hook_section_of_contributing_is_a_real_hook():
    headings = re.findall(r"^### (register_\w+)\s*$", CONTRIBUTING.read_text("utf-8"), re.M)
    assert sorted(headings) == hookspec_names()


PROTOCOLS = {kind: getattr(strategies, spec.protocol) for kind, spec in KINDS.items() if spec.protocol}


def test_every_kind_that_builds_an_object_has_a_protocol():
    assert {k for k, spec in KINDS.items() if spec.builds_object} == set(PROTOCOLS)


def protocol_members(protocol: type) -> set[str]:
    methods = {n for n, v in vars(protocol).items() if callable(v) and not n.startswith("_")}
    return methods | set(getattr(protocol, "__annotations__", {}))


@pytest.mark.parametrize("kind", sorted(PROTOCOLS))
def test_what_create_checks_on_a_built_object_is_part_of_its_kind_s_protocol(kind: str):
    protocol = PROTOCOLS[kind]
    members = protocol_members(protocol) | ({"__call__"} if "__call__" in vars(protocol) else set())
    assert set(KINDS[kind].members) <= members


@pytest.mark.parametrize("kind", sorted(PROTOCOLS))
def test_each_kind_s_section_names_every_member_of_its_protocol(kind: str):
    text = section(KINDS[kind].hook)
    missing = sorted(m for m in protocol_members(PROTOCOLS[kind]) if f"`{m}" not in text)
    assert not missing, f"'### {KINDS[kind].hook}' does not document {', '.join(missing)}"


def test_the_metric_section_gives_the_function_signature():
    assert "fn(confidence: np.ndarray, correct: np.ndarray, **params) -> float" in section("register_metrics")


def test_the_judge_section_lists_every_runner_setting():
    text = section("register_judges")
    assert not [key for key in KINDS["judge"].settings_defaults() if f"`{key}`" not in text]


def test_the_example_package_in_contributing_is_the_one_the_tests_install():
    text = CONTRIBUTING.read_text(encoding="utf-8")
    blocks = re.findall(r"<!-- file: (\S+) -->\n```\w*\n(.*?)```", text, re.S)
    assert {path for path, _ in blocks} == {
        "tests/fake_plugin_dist/pyproject.toml",
        "tests/fake_plugin_dist/harness_fake_plugin/__init__.py",
    }
    for path, block in blocks:
        assert block == (ROOT / path).read_text(encoding="utf-8"), f"CONTRIBUTING.md's copy of {path} differs"


def test_the_documented_vectorized_metric_agrees_with_its_plain_form_under_both_bootstraps():
    import numpy as np

    from harness.statistics.bootstrap import draw, replicates

    text = section("register_metrics")
    code = re.search(r"\*\*The vectorized form\.\*\*.*?```python\n(.*?)```", text, re.S).group(1)
    namespace: dict = {}
    exec(compile(code, "CONTRIBUTING.md", "exec"), namespace)
    metric = namespace["mean_confidence"]
    rng = np.random.default_rng(0)
    confidence, correct = rng.random(60), rng.random(60) < 0.5
    groups = [i % 7 if i < 50 else None for i in range(60)]  # groups of unequal sizes: blocks
    for resamples in (draw(60, 200, seed=1), draw(60, 200, seed=1, groups=groups)):
        batched = replicates(metric, confidence, correct, resamples)
        plain = replicates(lambda c, k: metric(c, k), confidence, correct, resamples)  # no batched form
        np.testing.assert_allclose(batched, plain)
