"""Loading plugins: idempotence, pluggy's checks, broken plugins, and real third-party
distributions pip-installed and used by name end to end.

The three fake distributions (``tests/fake_plugin_dist``, ``tests/broken_plugin_dist``, and
``tests/careless_plugin_dist``, one mistake per module: failing metrics, a duplicate name,
extractors that break their contract, a hook without the marker, a hook that registers
nothing) are
pip-installed into folders of their own (``pip install --target``), which the tests put
on the path of the harness: in a subprocess through ``PYTHONPATH``, in this process with
``sys.path``. That is an installation like any other for ``importlib.metadata``, and it
never changes the shared environment that other test sessions run in.
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from plugin_helpers import installed, pip

import harness
from harness.errors import HarnessError, PluginContractError, PluginLoadError, UnknownStrategyError
from harness.machinery import plugin_loading, registry
from harness.machinery.config import Config
from harness.records import Example, Generation, Prediction
from harness.running import stages
from harness.statistics.scoring import paired_difference, score

TESTS = Path(__file__).parents[1]
FAKE = "harness-fake-plugin"
BROKEN = "harness-broken-plugin"
CARELESS = "harness-careless-plugin"
CARELESS_MODULES = ("harness_careless_plugin", *(f"harness_careless_plugin.{m}" for m in
                                                 ("metrics", "extractors", "unmarked", "silent")))
BROKEN_ERROR = "ModuleNotFoundError: No module named 'harness_missing_sdk_for_tests'"


# -- the plugin manager ----------------------------------------------------------------------


def test_the_registry_loads_the_plugins_once_and_keeps_them():
    first = registry.current().manager
    loaded = registry.loaded_plugins()
    assert registry.current().manager is first
    assert registry.loaded_plugins() == loaded
    assert len(first.get_plugins()) == len({id(p) for p in first.get_plugins()})


def test_loading_is_stateless_each_load_is_a_fresh_manager():
    one, two = plugin_loading.load(), plugin_loading.load()
    assert one.manager is not two.manager
    assert set(one.plugins) == set(two.plugins) and one.broken == two.broken == []


def test_every_lookup_loads_the_plugins_itself_after_a_reset():
    before = {(s.kind, s.name, s.source) for s in registry.strategies()}
    registry.reset()
    assert registry.get("metric", "accuracy").name == "accuracy"  # no explicit load step
    assert {(s.kind, s.name, s.source) for s in registry.strategies()} == before


def test_built_in_plugins_load_through_the_harness_entry_points():
    own = [p for p in registry.loaded_plugins() if p.distribution.startswith("calibration-harness")]
    modules = {p.module for p in own}
    assert {"harness.plugins.metrics", "harness.tasks"} <= modules
    assert all(m.startswith("harness.") for m in modules)


class Misspelled:
    @harness.hookimpl
    def register_metric(self, register):  # the hook is register_metrics
        register("never", lambda confidence, correct: 0.0)


class WrongSignature:
    @harness.hookimpl
    def register_metrics(self, add):  # the hook's argument is `register`
        add("never", lambda confidence, correct: 0.0)


def test_check_pending_catches_a_misspelled_hook_as_one_line():
    with pytest.raises(PluginLoadError) as info:
        registry.register_plugin(Misspelled(), name="typo", distribution="typo-dist")
    message = str(info.value)
    assert "unknown hook(s) register_metric (misspelled?)" in message
    assert "register_metrics" in message and "\n" not in message
    assert registry.current().manager.get_plugin("typo-dist:typo") is None
    registry.current().manager.check_pending()  # nothing of it is left behind


def test_a_hook_with_the_wrong_signature_is_a_one_line_plugin_load_error():
    with pytest.raises(PluginLoadError) as info:
        registry.register_plugin(WrongSignature(), name="sig", distribution="sig-dist")
    assert "'add'" in str(info.value) and "\n" not in str(info.value)
    assert registry.current().manager.get_plugin("sig-dist:sig") is None


class RaisesInItsHook:
    @harness.hookimpl
    def register_tasks(self, register):
        register("half_registered", lambda: [])

    @harness.hookimpl
    def register_metrics(self, register):
        raise RuntimeError("the plugin's own bug")


def test_a_plugin_whose_hook_raises_is_listed_as_broken_and_the_rest_still_works():
    with installed(RaisesInItsHook(), "buggy", distribution="buggy-dist"):
        assert "accuracy" in registry.names("metric")
        assert "half_registered" not in registry.names("task")  # a broken plugin gives nothing
        broken = [b for b in registry.broken_plugins() if b.distribution == "buggy-dist"]
        assert len(broken) == 1
        assert broken[0].error == "register_metrics raised RuntimeError: the plugin's own bug"
        with pytest.raises(UnknownStrategyError, match="plugins that failed to load: buggy-dist"):
            registry.get("task", "half_registered")
    assert not [b for b in registry.broken_plugins() if b.distribution == "buggy-dist"]


class NotCallable:
    @harness.hookimpl
    def register_extractors(self, register):
        register("not_callable", {"prefix": "Q:"})


def test_registering_something_that_is_not_callable_breaks_only_that_plugin():
    with installed(NotCallable(), "nc", distribution="nc-dist"):
        assert "not_callable" not in registry.names("extractor")
        (broken,) = [b for b in registry.broken_plugins() if b.distribution == "nc-dist"]
        assert "the factory of extractor 'not_callable' is not callable" in broken.error


# -- real third-party distributions, pip-installed -------------------------------------------


def _pip_install(source: Path, work: Path) -> Path:
    """Install the distribution at ``source`` into a folder of its own, with pip."""
    copy = work / "src"
    shutil.copytree(source, copy, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    site = work / "site"
    pip("install", "--no-build-isolation", "--target", str(site), str(copy))
    return site


@pytest.fixture(scope="module")
def fake_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _pip_install(TESTS / "fake_plugin_dist", tmp_path_factory.mktemp("fake-plugin"))


@pytest.fixture(scope="module")
def broken_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _pip_install(TESTS / "broken_plugin_dist", tmp_path_factory.mktemp("broken-plugin"))


@pytest.fixture(scope="module")
def careless_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _pip_install(TESTS / "careless_plugin_dist", tmp_path_factory.mktemp("careless-plugin"))


@pytest.fixture
def on_path(monkeypatch: pytest.MonkeyPatch) -> Iterator[callable]:
    """Put installed sites on this process's path; the plugins load afresh, and are forgotten after."""

    def add(*sites: Path) -> None:
        for site in sites:
            monkeypatch.syspath_prepend(str(site))
        importlib.invalidate_caches()
        registry.reset()

    yield add
    monkeypatch.undo()
    for module in ("harness_fake_plugin", "harness_broken_plugin", *CARELESS_MODULES):
        sys.modules.pop(module, None)
    importlib.invalidate_caches()
    registry.reset()


def harness_cli(
    *args: str, sites: tuple[Path, ...] = (), cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``harness ARGS`` in a fresh interpreter that sees the given installed sites."""
    env = {**{k: v for k, v in os.environ.items() if k != "HARNESS_DISABLE_PLUGINS"}, **(env or {})}
    env["PYTHONPATH"] = os.pathsep.join(str(s) for s in sites)
    return subprocess.run(
        [sys.executable, "-m", "harness.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=120,
    )


@pytest.fixture
def answers(tmp_path: Path) -> Path:
    path = tmp_path / "answers.jsonl"
    rows = [(0.9, True), (0.8, False), (0.6, True), (0.3, False)]
    path.write_text("".join(json.dumps({"confidence": c, "correct": k}) + "\n" for c, k in rows))
    return path


def test_the_installed_plugin_registers_by_name_with_its_distribution(fake_site: Path, on_path):
    on_path(fake_site)
    metric = registry.get("metric", "fake_metric")
    extractor = registry.get("extractor", "fake_extractor")
    assert metric.source == extractor.source == FAKE
    assert metric.plugin == f"{FAKE}:fake"
    assert any(
        p.distribution == FAKE and p.module == "harness_fake_plugin" for p in registry.loaded_plugins()
    )

    fn = registry.create("metric", "fake_metric", Config())
    assert fn(np.array([0.9, 0.5]), np.array([True, False])) == pytest.approx(0.7 - 0.5)

    config = Config.load(None, ['extractor.fake_extractor.prefix="Question: "'])  # TOML quotes keep the space
    built = registry.create("extractor", "fake_extractor", config)
    example = Example(id="q1", question="Capital of France?", answer="Paris")
    assert built.prompt(example) == "Question: Capital of France?\nA:"
    prediction = built.extract(Generation(example_id="q1", prompt="", text=" Paris\nmore"))
    assert prediction == Prediction(
        example_id="q1", answer="Paris", confidence=0.5, extractor="fake_extractor"
    )


def test_a_name_clash_with_an_installed_plugin_keeps_the_installed_one_and_names_both(
    fake_site: Path, on_path
):
    class Clash:
        @harness.hookimpl
        def register_metrics(self, register):
            register("fake_metric", lambda confidence, correct: 0.0)

    on_path(fake_site)
    with installed(Clash(), "clash", distribution="my-notebook"):
        assert registry.get("metric", "fake_metric").source == FAKE
        assert registry.get("metric", "my-notebook:fake_metric").source == "my-notebook"
        (duplicate,) = registry.duplicates()
        assert f"also registered by {FAKE} ({FAKE}:fake), which is kept" in duplicate.error


def test_harness_list_shows_the_installed_plugin_with_its_distribution(fake_site: Path, tmp_path: Path):
    result = harness_cli("list", sites=(fake_site,), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = [line.split()[:2] for line in result.stdout.splitlines()]
    assert ["fake_metric", FAKE] in lines
    assert ["fake_extractor", FAKE] in lines
    summary = "Signed overconfidence: mean confidence minus accuracy."  # its docstring's first line
    assert f"  fake_metric          {FAKE}  {summary}" in result.stdout
    assert "broken plugins:" not in result.stdout


def test_harness_list_verbose_shows_the_plugin_s_parameters_and_their_sources(
    fake_site: Path, tmp_path: Path
):
    user = tmp_path / "user.toml"
    user.write_text('[extractor.fake_extractor]\nprefix = "Q> "\n')
    result = harness_cli(
        "list", "-v", "--kind", "extractor", "--config", str(user), sites=(fake_site,), cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert "confidence: float = 0.5  [default]" in result.stdout
    assert f"prefix: str = 'Q> '  [{user}]" in result.stdout


def test_harness_metrics_computes_the_installed_metric(fake_site: Path, answers: Path, tmp_path: Path):
    result = harness_cli(
        "metrics", str(answers), "--json", "--metric", "fake_metric", sites=(fake_site,), cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    metrics = json.loads(result.stdout)
    assert list(metrics) == ["fake_metric"]
    assert metrics["fake_metric"]["value"] == pytest.approx(0.65 - 0.5)


def test_harness_metrics_without_a_selection_includes_the_installed_metric(
    fake_site: Path, answers: Path, tmp_path: Path
):
    result = harness_cli("metrics", str(answers), "--json", sites=(fake_site,), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    metrics = json.loads(result.stdout)
    assert {"accuracy", "mean_confidence", "fake_metric"} <= set(metrics)
    assert metrics["accuracy"]["value"] == pytest.approx(0.5)


def test_without_the_installation_the_plugin_s_names_are_unknown(answers: Path, tmp_path: Path):
    result = harness_cli("metrics", str(answers), "--metric", "fake_metric", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith("harness: error: unknown metric 'fake_metric'; known: ")


def test_a_broken_plugin_does_not_break_harness_list(broken_site: Path, fake_site: Path, tmp_path: Path):
    result = harness_cli("list", sites=(broken_site, fake_site), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert "fake_metric" in result.stdout and "accuracy" in result.stdout
    broken_section = result.stdout.split("broken plugins:\n", 1)[1]
    assert broken_section.split() == ["broken", f"{BROKEN}:", *BROKEN_ERROR.split()]


def test_using_a_name_of_a_broken_plugin_fails_with_its_error(
    broken_site: Path, answers: Path, tmp_path: Path
):
    result = harness_cli(
        "metrics", str(answers), "--metric", "broken_metric", sites=(broken_site,), cwd=tmp_path
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1
    assert "unknown metric 'broken_metric'" in result.stderr
    assert f"plugins that failed to load: {BROKEN} (broken): {BROKEN_ERROR}" in result.stderr


def test_a_broken_plugin_is_recorded_in_process_too(broken_site: Path, on_path):
    on_path(broken_site)
    (broken,) = [b for b in registry.broken_plugins() if b.distribution == BROKEN]
    assert (broken.name, broken.module, broken.error) == ("broken", "harness_broken_plugin", BROKEN_ERROR)
    assert "accuracy" in registry.names("metric")
    with pytest.raises(UnknownStrategyError, match=BROKEN_ERROR):
        registry.create("metric", "broken_metric", Config())


def _hand_installed(site: Path, dist: str, module: str, source: str) -> Path:
    """A distribution laid out on disk as an installer leaves it: a module and its .dist-info."""
    site.mkdir(parents=True, exist_ok=True)
    (site / f"{module}.py").write_text(source)
    info = site / f"{dist.replace('-', '_')}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[harness]\nplugin = {module}\n")
    return site


TYPO_PLUGIN = """
import harness

@harness.hookimpl
def register_metric(register):
    register("typo_metric", lambda confidence, correct: 0.0)
"""

BAD_SIGNATURE_PLUGIN = """
import harness

@harness.hookimpl
def register_metrics(add):
    add("bad_signature_metric", lambda confidence, correct: 0.0)
"""


def test_an_installed_plugin_with_a_misspelled_hook_is_broken_not_fatal(tmp_path: Path, on_path):
    site = _hand_installed(tmp_path / "site", "harness-typo-plugin", "harness_typo_plugin", TYPO_PLUGIN)
    site = _hand_installed(site, "harness-sig-plugin", "harness_sig_plugin", BAD_SIGNATURE_PLUGIN)
    on_path(site)
    try:
        errors = {b.distribution: b.error for b in registry.broken_plugins()}
        assert "accuracy" in registry.names("metric")
        assert "implements unknown hook(s) register_metric (misspelled?)" in errors["harness-typo-plugin"]
        assert "'add'" in errors["harness-sig-plugin"]
        assert "typo_metric" not in registry.names("metric")
        registry.current().manager.check_pending()  # nothing unchecked was left registered
    finally:
        for module in ("harness_typo_plugin", "harness_sig_plugin"):
            sys.modules.pop(module, None)


# -- a careless plugin: each mistake is one line naming it, and the rest works ---------------


ANSWERS = [(0.9, True), (0.8, False), (0.6, True), (0.3, False)]
FAILING = {
    "raises_metric": "raised RuntimeError: the plugin's own bug",
    "nan_metric": "returned nan, not a finite number",
    "text_metric": "returned str 'high', not a number",
}


def test_a_failing_metric_is_n_a_with_one_warning_and_every_other_metric_is_computed(
    careless_site: Path, answers: Path, tmp_path: Path
):
    result = harness_cli("metrics", str(answers), sites=(careless_site,), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    warnings = result.stderr.splitlines()
    assert len(warnings) == len(FAILING), result.stderr
    for name, why in FAILING.items():
        (line,) = [w for w in warnings if f"metric {name!r} ({CARELESS})" in w]
        assert line.startswith("harness: warning: ") and line.endswith(why), line
    rows = {line.split()[0]: line for line in result.stdout.splitlines()[1:]}
    assert rows["accuracy"].split()[1] == "0.500"  # with its CI: the others are computed as ever
    assert "[" in rows["accuracy"] and "[" in rows["ece"]
    for name in FAILING:
        assert rows[name].split()[1] == "n/a", rows[name]


def test_metrics_json_gives_a_failing_metric_null_and_its_error(careless_site: Path, answers: Path,
                                                                tmp_path: Path):
    result = harness_cli("metrics", str(answers), "--json", sites=(careless_site,), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert len(result.stderr.splitlines()) == len(FAILING)
    metrics = json.loads(result.stdout)  # strict JSON: no NaN
    assert metrics["accuracy"]["value"] == pytest.approx(0.5) and metrics["accuracy"]["error"] is None
    for name, why in FAILING.items():
        assert metrics[name]["value"] is None and metrics[name]["ci"] is None
        assert metrics[name]["error"] == f"metric {name!r} ({CARELESS}) {why}"


@pytest.mark.parametrize("name", sorted(FAILING))
def test_a_failing_metric_asked_for_by_name_fails_the_command_in_one_line(
    careless_site: Path, answers: Path, tmp_path: Path, name: str
):
    result = harness_cli("metrics", str(answers), "--metric", name, sites=(careless_site,), cwd=tmp_path)
    assert result.returncode == 2
    assert result.stdout == "" and "Traceback" not in result.stderr
    (line,) = result.stderr.splitlines()
    assert line == f"harness: error: metric {name!r} ({CARELESS}) {FAILING[name]}"


def test_a_duplicate_name_breaks_only_that_registration_and_either_is_selectable(
    careless_site: Path, answers: Path, tmp_path: Path
):
    listed = harness_cli("list", sites=(careless_site,), cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert ["ece", "calibration-harness"] in [line.split()[:2] for line in listed.stdout.splitlines()]
    section = listed.stdout.split("broken strategies (duplicate names):\n", 1)[1].splitlines()
    (line,) = [row for row in section if row.split()[:2] == ["ece", f"{CARELESS}:"]]
    assert "also registered by calibration-harness (calibration-harness:metrics), which is kept" in line
    assert f"select this one as {CARELESS}:ece (and that one as calibration-harness:ece)" in line

    result = harness_cli(
        "metrics", str(answers), "--json", "--no-ci",
        "--metric", "ece", "--metric", f"{CARELESS}:ece", "--metric", "calibration-harness:ece",
        "-p", f"metric.{CARELESS}:ece.scale=2", "-p", "metric.ece.bins=1",
        sites=(careless_site,), cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    metrics = json.loads(result.stdout)
    assert metrics["ece"]["value"] == metrics["calibration-harness:ece"]["value"] == pytest.approx(0.65 - 0.5)
    assert metrics[f"{CARELESS}:ece"]["value"] == pytest.approx(2 * (0.65 - 0.5))


def test_a_hook_without_the_marker_and_a_plugin_that_registers_nothing_are_listed_with_a_hint(
    careless_site: Path, tmp_path: Path
):
    result = harness_cli("list", sites=(careless_site,), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    hints = result.stdout.split("plugins with a hint:\n", 1)[1].splitlines()
    assert f"  unmarked             {CARELESS}: registered nothing; has a function named register_metrics " \
           "without @harness.hookimpl" in hints
    assert f"  silent               {CARELESS}: registered nothing (its register_metrics never called " \
           "register)" in hints
    assert not [h for h in hints if "metrics" in h.split()[0] or "extractors" in h.split()[0]]


def test_harness_disable_plugins_skips_plugins_at_load_and_list_says_so(
    careless_site: Path, broken_site: Path, fake_site: Path, answers: Path, tmp_path: Path
):
    sites = (careless_site, broken_site, fake_site)
    env = {"HARNESS_DISABLE_PLUGINS": f"{CARELESS}, broken,nope"}
    result = harness_cli("list", sites=sites, cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    assert "fake_metric" in result.stdout and "accuracy" in result.stdout
    assert "raises_metric" not in result.stdout
    assert "broken plugins:" not in result.stdout  # never imported
    assert "duplicate names" not in result.stdout and "plugins with a hint:" not in result.stdout
    disabled = [line.split() for line in result.stdout.split("plugins not loaded:\n", 1)[1].splitlines()]
    why = "HARNESS_DISABLE_PLUGINS"
    assert sorted(disabled) == sorted(
        [["broken", f"{BROKEN}:", why], ["extractors", f"{CARELESS}:", why], ["metrics", f"{CARELESS}:", why],
         ["silent", f"{CARELESS}:", why], ["unmarked", f"{CARELESS}:", why],
         ["nope", "(matches", "no", "installed", "plugin)"]]
    )
    used = harness_cli("metrics", str(answers), "--metric", "nan_metric", sites=sites, cwd=tmp_path, env=env)
    assert used.returncode == 2
    assert "unknown metric 'nan_metric'" in used.stderr
    assert (f"not loaded: broken ({BROKEN}, HARNESS_DISABLE_PLUGINS), "
            f"extractors ({CARELESS}, HARNESS_DISABLE_PLUGINS)") in used.stderr
    # An entry point of one distribution, by DIST:NAME: the others of the distribution still load.
    one = harness_cli("list", sites=(careless_site,), cwd=tmp_path,
                      env={"HARNESS_DISABLE_PLUGINS": f"{CARELESS}:metrics"})
    assert "raises_metric" not in one.stdout and "duplicate names" not in one.stdout
    assert "plugins with a hint:" in one.stdout


def test_plugins_option_loads_only_the_third_party_plugins_it_names_and_every_built_in(
    careless_site: Path, broken_site: Path, fake_site: Path, answers: Path, tmp_path: Path
):
    sites = (careless_site, broken_site, fake_site)
    result = harness_cli("--plugins", f"{FAKE},nope", "list", sites=sites, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "fake_metric" in result.stdout and "accuracy" in result.stdout  # the one named, and the built-ins
    assert "raises_metric" not in result.stdout and "broken plugins:" not in result.stdout
    not_loaded = [line.split() for line in result.stdout.split("plugins not loaded:\n", 1)[1].splitlines()]
    assert ["broken", f"{BROKEN}:", "not", "among", "--plugins", "(HARNESS_PLUGINS)"] in not_loaded
    assert ["nope", "(matches", "no", "installed", "plugin)"] in not_loaded
    # the same through the environment, which child processes inherit
    same = harness_cli("metrics", str(answers), "--metric", "fake_metric", sites=sites, cwd=tmp_path,
                       env={"HARNESS_PLUGINS": FAKE})
    assert same.returncode == 0, same.stderr
    left_out = harness_cli("--plugins", FAKE, "metrics", str(answers), "--metric", "nan_metric",
                           sites=sites, cwd=tmp_path)
    assert left_out.returncode == 2
    assert f"metrics ({CARELESS}, not among --plugins (HARNESS_PLUGINS))" in left_out.stderr


def test_an_extractor_that_breaks_its_contract_is_one_line_naming_it(careless_site: Path, on_path,
                                                                    tmp_path: Path):
    on_path(careless_site)
    with pytest.raises(PluginContractError) as info:
        registry.create("extractor", "no_prompt_extractor", Config())
    assert str(info.value).startswith(
        f"extractor 'no_prompt_extractor' ({CARELESS}): its factory built a NoPromptExtractor without prompt"
    )
    extractor = registry.create("extractor", "dict_extractor", Config())
    example = Example(id="q1", question="Capital of France?", answer="Paris")
    generations = {"q1": Generation(example_id="q1", prompt="Capital of France?", text=" Paris")}
    with pytest.raises(PluginContractError) as info:
        stages.extract(tmp_path / "predictions.jsonl", extractor, [example], generations)
    assert str(info.value) == (
        f"extractor 'dict_extractor' ({CARELESS}): extract() returned dict, not a harness.records.Prediction "
        "(example 'q1')"
    )
    assert "accuracy" in registry.names("metric")  # the rest still works


def test_typed_parameters_of_an_installed_plugin_are_listed_and_checked(
    careless_site: Path, answers: Path, tmp_path: Path
):
    listed = harness_cli("list", "-v", "--kind", "metric", sites=(careless_site,), cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert "      mode: 'mean' | 'max' = 'mean'  [default]" in listed.stdout.splitlines()
    assert "      bins: int = 10  [default]" in listed.stdout.splitlines()
    bad = harness_cli("metrics", str(answers), "--metric", "choice_metric",
                      "-p", "metric.choice_metric.mode=median", sites=(careless_site,), cwd=tmp_path)
    assert bad.returncode == 2 and bad.stdout == ""
    (line,) = bad.stderr.splitlines()
    assert line == (
        f"harness: error: metric 'choice_metric' ({CARELESS}): parameter mode = 'median' (set by -p) "
        "must be one of 'mean', 'max' (mode: 'mean' | 'max')"
    )


def test_failing_metrics_are_n_a_in_score_and_paired_difference_as_the_assessment_calls_them(
    careless_site: Path, on_path
):
    on_path(careless_site)
    confidence, correct = np.array([c for c, _ in ANSWERS]), np.array([k for _, k in ANSWERS])
    result = score(confidence, correct, resamples=50)  # names=None: every metric, n/a where it fails
    assert set(result["failed"]) == set(FAILING)
    assert result["metrics"]["accuracy"]["value"] == 0.5 and result["metrics"]["accuracy"]["ci"] is not None
    changes = paired_difference(confidence, correct, confidence, correct, resamples=50)
    for name in FAILING:
        assert result["metrics"][name]["value"] is None
        assert changes[name]["diff"] is None and f"metric {name!r} ({CARELESS})" in changes[name]["error"]
    assert changes["accuracy"]["diff"] == 0.0 and changes["accuracy"]["error"] is None
    with pytest.raises(PluginContractError, match="nan_metric"):
        paired_difference(confidence, correct, confidence, correct, ["nan_metric"], resamples=50)


class FailsOnResamples:
    """A metric that is fine on the data but raises on a resample (which repeats an example)."""

    @harness.hookimpl
    def register_metrics(self, register):
        def distinct_only(confidence, correct):
            if len(set(confidence.tolist())) < len(confidence):
                raise TypeError("repeated examples")
            return float(np.mean(confidence))

        register("distinct_only", distinct_only)


def test_a_metric_that_fails_on_bootstrap_resamples_keeps_its_value_without_an_interval():
    confidence, correct = np.linspace(0.1, 0.9, 40), np.arange(40) % 2 == 0
    with installed(FailsOnResamples(), "resamples", distribution="resample-dist"):
        result = score(confidence, correct, resamples=100)
        entry = result["metrics"]["distinct_only"]
        assert entry["value"] == pytest.approx(0.5) and entry["ci"] is None
        assert entry["error"] == ("metric 'distinct_only' (resample-dist): on bootstrap resamples: "
                                  "TypeError: repeated examples")
        assert result["failed"] == {"distinct_only": entry["error"]}
        assert result["metrics"]["brier"]["ci"] is not None
        with pytest.raises(PluginContractError, match="distinct_only.*on bootstrap resamples"):
            score(confidence, correct, ["distinct_only"], resamples=100)


def test_a_harness_that_was_never_installed_says_so_in_one_line(monkeypatch):
    """Its built-ins load only through entry points; without them the reason is named, not a
    ModuleNotFoundError (``harness.plugins`` exists only in an installed harness)."""
    monkeypatch.setattr(plugin_loading.metadata, "entry_points", lambda group: [])
    registry.reset()
    try:
        broken = registry.broken_plugins()
        assert [b.name for b in broken] == ["built-ins"] and "pip install -e ." in broken[0].error
        with pytest.raises(HarnessError, match="not installed"):
            registry.get("metric", "ece")
    finally:
        monkeypatch.undo()
        registry.reset()
    assert registry.get("metric", "ece").name == "ece"


def test_a_third_party_multi_request_extractor_runs_beside_logprob(fake_site: Path, tiny_lm_path: Path,
                                                                     tmp_path: Path):
    """The example package's ``fake_sure`` asks the backend a follow-up question: `harness run`
    serves it, reports it beside logprob on the same questions, and compares the two."""
    qa = tmp_path / "qa.jsonl"
    rows = [{"id": f"q{i}", "question": f"What is item {i}?", "answer": "red"} for i in range(8)]
    qa.write_text("".join(json.dumps(row) + "\n" for row in rows))
    result = harness_cli("run", "--task", "jsonl", "-p", f"task.path={qa}", "--model", str(tiny_lm_path),
                         "-p", "backend.max_new_tokens=3", "--extractor", "logprob",
                         "--extractor", "fake_sure", "--out", str(tmp_path / "run"),
                         sites=(fake_site,), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    (comp,) = report["extractor_comparisons"]
    assert (comp["extractor"], comp["reference"], comp["paired_n"]) == ("fake_sure", "logprob", 8)
    assert (tmp_path / "run" / "baseline" / "fake_sure" / "all" / "follow_ups.jsonl").exists()
