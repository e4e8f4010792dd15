"""The strategy registry: kinds, duplicates, unknown names, parameters, their types and precedence,
and the checks of what a factory builds.

Fake plugins here are plain objects registered for one test with
``harness.machinery.registry.register_plugin`` and unregistered in ``finally``.
"""

from __future__ import annotations

import functools
import inspect
from pathlib import Path
from typing import Literal

import numpy as np
import pytest
from plugin_helpers import installed

import harness
from harness.errors import ParameterError, PluginContractError, UnknownStrategyError
from harness.judging.settings import JudgeSettings
from harness.machinery import registry
from harness.machinery.config import OTHER_SECTIONS, Config, Layer, shipped_registry
from harness.machinery.kinds import HOOKS, KINDS

JUDGE_SETTINGS = KINDS["judge"].settings_defaults()


def overconfidence(confidence: np.ndarray, correct: np.ndarray, scale: float = 1.0) -> float:
    return scale * float(np.mean(confidence) - np.mean(correct))


class DemoExtractor:
    """An extractor that shows the parameters it was built with (``shown``)."""

    name = "demo_extractor"
    stop = ("\n",)

    def __init__(self, **shown: int) -> None:
        self.shown = shown

    def prompt(self, example):  # type: ignore[no-untyped-def]
        return example.question

    def extract(self, generation):  # type: ignore[no-untyped-def]
        raise NotImplementedError


def demo_extractor(
    alpha: int = 1, beta: int = 2, gamma: int = 3, delta: int = 4, eps: int = 5
) -> DemoExtractor:
    """A factory whose result shows the parameters it was built with."""
    return DemoExtractor(alpha=alpha, beta=beta, gamma=gamma, delta=delta, eps=eps)


class Built:
    """What the demo factories build: an object with every member ``create()`` checks for any
    kind (harness.machinery.kinds), holding the arguments it was built with (``args``)."""

    name = model = prompt_version = model_path = extractor = "demo"
    stop = ()

    def __init__(self, **args: object) -> None:
        self.args = args

    def examples(self): ...  # type: ignore[no-untyped-def]
    def generate(self, requests, progress=True): ...  # type: ignore[no-untyped-def]
    def prompt(self, example): ...  # type: ignore[no-untyped-def]
    def extract(self, generation): ...  # type: ignore[no-untyped-def]
    async def grade(self, example, prediction): ...  # type: ignore[no-untyped-def]
    def fit(self, confidence, correct): ...  # type: ignore[no-untyped-def]
    def __call__(self, confidence): ...  # type: ignore[no-untyped-def]
    def fitted(self): ...  # type: ignore[no-untyped-def]
    def train(self, model, records, out_dir, extractor): ...  # type: ignore[no-untyped-def]


def needs_path(path: str, limit: int = 10) -> Built:
    return Built(path=path, limit=limit)


class EveryKind:
    """A plugin that registers one strategy of every kind, one hook per kind."""

    @harness.hookimpl
    def register_tasks(self, register):
        register("demo_task", lambda size=3: Built(size=size))

    @harness.hookimpl
    def register_backends(self, register):
        register("demo_backend", lambda model, adapter=None, batch_size=8: Built(model=model, adapter=adapter,
                                                                            batch_size=batch_size))

    @harness.hookimpl
    def register_extractors(self, register):
        register("demo_extractor", demo_extractor)

    @harness.hookimpl
    def register_judges(self, register):
        register("demo_judge", lambda strict=True: Built(strict=strict))

    @harness.hookimpl
    def register_metrics(self, register):
        register("demo_metric", overconfidence)

    @harness.hookimpl
    def register_calibrators(self, register):
        register("demo_calibrator", lambda bins=5: Built(bins=bins))

    @harness.hookimpl
    def register_trainers(self, register):
        register("demo_trainer", lambda epochs=3: Built(epochs=epochs))


def test_kinds_are_the_seven_of_the_contract_in_listing_order():
    assert list(KINDS) == ["task", "backend", "extractor", "judge", "metric", "calibrator", "trainer"]
    assert set(HOOKS) == {
        "register_tasks",
        "register_backends",
        "register_extractors",
        "register_judges",
        "register_metrics",
        "register_calibrators",
        "register_trainers",
    }


def test_a_plugin_fills_every_kind_and_each_strategy_records_its_source():
    with installed(EveryKind(), "every-kind", distribution="demo-dist"):
        for kind in KINDS:
            strategy = registry.get(kind, f"demo_{kind}")
            assert (strategy.kind, strategy.name) == (kind, f"demo_{kind}")
            assert strategy.source == "demo-dist"
            assert strategy.plugin == "demo-dist:every-kind"
            assert f"demo_{kind}" in registry.names(kind)
            # --task, --trainer, --metric, ... take the qualified name too
            assert registry.get(kind, f"demo-dist:demo_{kind}") is strategy
        listed = {(s.kind, s.name) for s in registry.strategies()}
        assert {(kind, f"demo_{kind}") for kind in KINDS} <= listed
    for kind in KINDS:
        assert f"demo_{kind}" not in registry.names(kind)


def test_strategies_are_listed_kind_by_kind_in_contract_order_and_by_name():
    with installed(EveryKind(), "every-kind"):
        listed = registry.strategies()
    kinds = [s.kind for s in listed]
    assert kinds == sorted(kinds, key=list(KINDS).index)
    for kind in KINDS:
        names = [s.name for s in listed if s.kind == kind]
        assert names == sorted(names)


def test_built_in_strategies_come_from_the_harness_distribution():
    for name in ("accuracy", "mean_confidence"):
        strategy = registry.get("metric", name)
        assert strategy.source.startswith("calibration-harness")


def test_runtime_arguments_of_a_backend_are_not_registry_parameters():
    with installed(EveryKind(), "every-kind"):
        strategy = registry.get("backend", "demo_backend")
        assert strategy.parameters() == {"batch_size": 8}
        backend = registry.create("backend", "demo_backend", Config(), model="tiny", adapter="lora")
    assert backend.args == {"model": "tiny", "adapter": "lora", "batch_size": 8}


def test_a_metric_s_parameters_are_those_after_confidence_and_correct():
    with installed(EveryKind(), "every-kind"):
        assert registry.get("metric", "demo_metric").parameters() == {"scale": 1.0}
        config = Config(overrides=(_override("metric.demo_metric.scale=2"),))
        fn = registry.create("metric", "demo_metric", config)
        value = fn(np.array([0.9, 0.7]), np.array([True, False]))
    assert isinstance(fn, functools.partial)
    assert value == pytest.approx(2 * (0.8 - 0.5))


# -- duplicates and unknown names ------------------------------------------------------------


class ClashesWithBuiltin:
    @harness.hookimpl
    def register_metrics(self, register):
        register("accuracy", overconfidence)


class Twin:
    @harness.hookimpl
    def register_metrics(self, register):
        register("twin_metric", overconfidence)


def test_a_duplicate_marks_only_the_later_registration_broken_and_both_stay_selectable():
    with installed(ClashesWithBuiltin(), "clash", distribution="harness-clash"):
        kept = registry.get("metric", "accuracy")  # the first registration keeps the plain name
        assert kept.source.startswith("calibration-harness") and not kept.shadowed
        assert registry.names("metric").count("accuracy") == 1
        assert "ece" in registry.names("metric")  # the rest of the harness is untouched
        (duplicate,) = registry.duplicates("metric")
        assert duplicate.strategy.qualified == "harness-clash:accuracy"
        message = duplicate.error
        assert "metric 'accuracy'" in message and "\n" not in message
        assert "calibration-harness" in message and "harness-clash:accuracy" in message
        # Either is selected by its qualified name (a distribution name is compared as PEP 503 does).
        assert registry.get("metric", "harness-clash:accuracy").source == "harness-clash"
        assert registry.get("metric", "harness_clash:accuracy").source == "harness-clash"
        assert registry.get("metric", "calibration-harness:accuracy") is kept
        confidence, correct = np.array([0.9, 0.7]), np.array([True, False])
        theirs = registry.create("metric", "harness-clash:accuracy", Config.load())
        assert theirs(confidence, correct) == pytest.approx(0.8 - 0.5)
        assert registry.create("metric", "accuracy", Config.load())(confidence, correct) == 0.5
    assert registry.duplicates() == []


def test_the_tables_and_overrides_of_a_plain_name_apply_to_the_registration_kept_under_it():
    class TakesBins:
        @harness.hookimpl
        def register_metrics(self, register):
            register("ece", overconfidence)  # has `scale`, not the built-in's `bins`

    with installed(TakesBins(), "clash", distribution="harness-clash"):
        config = Config.load(overrides=["metric.ece.bins=5", "metric.harness-clash:ece.scale=3"])
        assert registry.resolve_params("metric", "ece", config) == {"bins": 5}  # registry.toml and -p
        assert registry.resolve_params("metric", "harness-clash:ece", config) == {"scale": 3}
        qualified = Config.load(overrides=["metric.calibration-harness:ece.bins=7"])
        assert registry.resolve_params("metric", "ece", qualified) == {"bins": 7}


def test_in_process_duplicates_keep_the_first_and_name_both():
    with (
        installed(Twin(), "first", distribution="dist-one"),
        installed(Twin(), "second", distribution="dist-two"),
    ):
        assert registry.get("metric", "twin_metric").source == "dist-one"
        assert registry.get("metric", "dist-two:twin_metric").source == "dist-two"
        (duplicate,) = registry.duplicates("metric")
        assert "also registered by dist-one (dist-one:first), which is kept" in duplicate.error
        assert "select this one as dist-two:twin_metric" in duplicate.error


def test_a_qualified_name_of_an_unknown_distribution_is_unknown():
    with pytest.raises(UnknownStrategyError, match="unknown metric 'nobody:accuracy'.*registered by"):
        registry.get("metric", "nobody:accuracy")


def test_an_unknown_name_lists_the_known_ones_and_suggests_the_closest():
    with pytest.raises(UnknownStrategyError) as info:
        registry.get("metric", "acuracy")
    message = str(info.value)
    assert message.startswith("unknown metric 'acuracy'; known: ")
    for name in registry.names("metric"):
        assert name in message
    assert "did you mean 'accuracy'?" in message


def test_an_unknown_name_far_from_every_known_one_gets_no_suggestion():
    with pytest.raises(UnknownStrategyError) as info:
        registry.get("metric", "zzzzzzzz")
    assert "did you mean" not in str(info.value)


def test_an_unknown_kind_lists_the_kinds():
    with pytest.raises(UnknownStrategyError, match="unknown kind 'metrics'; kinds: task, backend"):
        registry.get("metrics", "accuracy")
    with pytest.raises(UnknownStrategyError):
        registry.names("scorer")


def test_an_unknown_strategy_error_is_also_a_key_error_with_a_readable_message():
    with pytest.raises(KeyError) as info:
        registry.get("trainer", "nope")
    assert str(info.value).startswith("unknown trainer 'nope'")  # not quoted like a KeyError


# -- parameters ------------------------------------------------------------------------------


def _override(text: str):
    from harness.machinery.config import Override

    return Override.parse(text)


def test_parameter_precedence_defaults_registry_profile_user_file_then_p(tmp_path: Path):
    user_file = tmp_path / "user.toml"
    user_file.write_text("[extractor.demo_extractor]\ndelta = 40\neps = 40\n")
    loaded = Config.load(user_file, ["extractor.demo_extractor.eps=50"], include_registry=False)
    shipped = Layer(
        "registry.toml", {"extractor": {"demo_extractor": {"beta": 20, "gamma": 20, "delta": 20}}}
    )
    profile = Layer(
        "profile of tiny", {"extractor": {"demo_extractor": {"gamma": 30, "delta": 30, "eps": 30}}}
    )
    config = Config((shipped, *loaded.layers), loaded.overrides).with_layer(profile)

    assert [layer.source for layer in config.layers] == ["registry.toml", "profile of tiny", str(user_file)]
    with installed(EveryKind(), "every-kind"):
        assert registry.resolve_params("extractor", "demo_extractor", config) == {
            "alpha": 1,
            "beta": 20,
            "gamma": 30,
            "delta": 40,
            "eps": 50,
        }
        assert registry.get("extractor", "demo_extractor").parameter_sources(config) == {
            "alpha": "default",
            "beta": "registry.toml",
            "gamma": "profile of tiny",
            "delta": str(user_file),
            "eps": "-p",
        }
        assert registry.create("extractor", "demo_extractor", config).shown == {
            "alpha": 1,
            "beta": 20,
            "gamma": 30,
            "delta": 40,
            "eps": 50,
        }


@pytest.mark.parametrize(
    "overrides",
    [
        ["extractor.alpha=10", "extractor.demo_extractor.alpha=20"],
        ["extractor.demo_extractor.alpha=20", "extractor.alpha=10"],
    ],
)
def test_a_named_p_override_beats_a_kind_wide_one_in_any_order(overrides: list[str]):
    config = Config.load(None, overrides, include_registry=False)
    with installed(EveryKind(), "every-kind"):
        assert registry.resolve_params("extractor", "demo_extractor", config)["alpha"] == 20


def test_the_last_of_two_equally_specific_p_overrides_wins():
    config = Config.load(None, ["extractor.alpha=10", "extractor.alpha=11"], include_registry=False)
    with installed(EveryKind(), "every-kind"):
        assert registry.resolve_params("extractor", "demo_extractor", config)["alpha"] == 11


def test_a_named_p_override_for_another_strategy_does_not_apply():
    config = Config.load(None, ["extractor.other.alpha=10"], include_registry=False)
    with installed(EveryKind(), "every-kind"):
        assert registry.resolve_params("extractor", "demo_extractor", config)["alpha"] == 1


def test_a_user_file_key_the_factory_does_not_accept_names_the_valid_ones(tmp_path: Path):
    user_file = tmp_path / "user.toml"
    user_file.write_text("[extractor.demo_extractor]\nzeta = 1\n")
    config = Config.load(user_file, include_registry=False)
    with installed(EveryKind(), "every-kind"):
        with pytest.raises(ParameterError) as info:
            registry.resolve_params("extractor", "demo_extractor", config)
    assert str(info.value) == (
        f"{user_file} [extractor.demo_extractor]: extractor 'demo_extractor' has no parameter 'zeta'; "
        "valid: alpha, beta, delta, eps, gamma"
    )


def test_a_named_p_override_the_factory_does_not_accept_names_the_valid_ones():
    config = Config.load(None, ["extractor.demo_extractor.zeta=1"], include_registry=False)
    with installed(EveryKind(), "every-kind"):
        with pytest.raises(ParameterError, match=r"-p extractor.demo_extractor.zeta: .*valid: alpha, beta"):
            registry.resolve_params("extractor", "demo_extractor", config)


def test_a_kind_wide_p_override_no_selected_strategy_accepts_is_an_error():
    config = Config.load(None, ["extractor.zeta=1"], include_registry=False)
    with installed(EveryKind(), "every-kind"):
        own = registry.get("extractor", "demo_extractor").parameters()
        # It is skipped for one strategy (another of the kind may take it) ...
        assert "zeta" not in registry.resolve_params("extractor", "demo_extractor", config)
        # ... but the run's selection must accept it.
        with pytest.raises(
            ParameterError, match="extractor demo_extractor has no parameter 'zeta'; valid: alpha"
        ):
            config.check_overrides({"extractor": [("demo_extractor", own)]})


def test_a_named_p_override_for_an_unregistered_name_is_caught_with_a_suggestion():
    config = Config.load(None, ["metric.acuracy.bins=3"], include_registry=False)
    with pytest.raises(UnknownStrategyError, match="did you mean 'accuracy'"):
        config.check_overrides({"metric": [("accuracy", {})]}, registry.get)


def test_a_required_parameter_left_unset_says_how_to_set_it():
    class Plugin:
        @harness.hookimpl
        def register_tasks(self, register):
            register("needs_path", needs_path)

    with installed(Plugin(), "needs-path"):
        assert registry.get("task", "needs_path").parameters() == {"path": registry.REQUIRED, "limit": 10}
        with pytest.raises(
            ParameterError, match=r"needs parameter\(s\) path \(set them with -p task.path=...\)"
        ):
            registry.create("task", "needs_path", Config())
        config = Config.load(None, ["task.path=data.csv"], include_registry=False)
        assert registry.create("task", "needs_path", config).args == {"path": "data.csv", "limit": 10}


def test_a_factory_taking_kwargs_accepts_any_parameter():
    class Plugin:
        @harness.hookimpl
        def register_trainers(self, register):
            register("open", lambda **params: Built(**params))

    config = Config.load(None, ["trainer.open.anything=1"], include_registry=False)
    with installed(Plugin(), "open"):
        assert registry.get("trainer", "open").parameters() is None
        assert registry.create("trainer", "open", config).args == {"anything": 1}

def test_a_factory_s_declared_keyword_params_are_its_parameters_as_if_in_its_signature():
    def open_factory(*, own: int = 1, **params):  # type: ignore[no-untyped-def]
        return Built(own=own, **params)

    K = inspect.Parameter.KEYWORD_ONLY
    open_factory.__keyword_params__ = {"shared": inspect.Parameter("shared", K, default=2, annotation=int)}

    class Plugin:
        @harness.hookimpl
        def register_trainers(self, register):
            register("declared", open_factory)

    with installed(Plugin(), "declared"):
        strategy = registry.get("trainer", "declared")
        assert strategy.parameters() == {"own": 1, "shared": 2}
        assert strategy.parameter_types()["shared"].describe() == "int"
        config = Config.load(None, ["trainer.declared.shared=3"], include_registry=False)
        assert registry.create("trainer", "declared", config).args == {"own": 1, "shared": 3}
        with pytest.raises(ParameterError, match="shared"):  # its type is checked
            registry.create("trainer", "declared", Config.load(None, ['trainer.declared.shared="x"'],
                                                                include_registry=False))
        with pytest.raises(ParameterError, match="other"):  # and no other keyword is taken
            registry.create("trainer", "declared", Config.load(None, ["trainer.declared.other=1"],
                                                                include_registry=False))



def test_a_renamed_strategy_keeps_its_former_names_working_with_a_one_line_notice(capsys):
    class Plugin:
        @harness.hookimpl
        def register_trainers(self, register):
            register("new_name", lambda *, x=1: Built(x=x), deprecated=("old_name",))

    with installed(Plugin(), "renamed"):
        registry._NOTIFIED.discard(("trainer", "old_name"))
        assert registry.get("trainer", "old_name").name == "new_name"
        assert capsys.readouterr().err.count("\n") == 1  # one line, once
        registry.get("trainer", "old_name")
        assert capsys.readouterr().err == ""
        assert [s.name for s in registry.strategies("trainer") if "name" in s.name] == ["new_name"]
        table = Config((Layer("user.toml", {"trainer": {"old_name": {"x": 2}}}),))
        assert registry.create("trainer", "new_name", table).args == {"x": 2}  # its old table applies
        assert registry.create("trainer", "new_name", Config.load(
            None, ["trainer.old_name.x=3"], include_registry=False)).args == {"x": 3}
        assert registry.current_name("trainer", "old_name") == "new_name"
        assert registry.current_name("trainer", "unknown") == "unknown"  # left for get() to refuse


def test_a_judge_gets_the_core_runner_settings_which_its_factory_never_sees():
    config = Config.load(
        None, ["judge.concurrency=4", "judge.demo_judge.strict=false"], include_registry=False
    )
    with installed(EveryKind(), "every-kind"):
        assert set(JUDGE_SETTINGS) <= set(registry.get("judge", "demo_judge").parameters())
        judge, settings = registry.create_judge("demo_judge", config)
        with pytest.raises(ParameterError, match="core settings"):
            registry.create("judge", "demo_judge", config)
    assert judge.args == {"strict": False}
    assert settings == JudgeSettings(concurrency=4)


def test_a_bad_judge_setting_is_a_parameter_error():
    config = Config.load(None, ["judge.not_attempted=skip"], include_registry=False)
    with installed(EveryKind(), "every-kind"):
        with pytest.raises(ParameterError, match="not_attempted must be one of incorrect, exclude"):
            registry.create_judge("demo_judge", config)


# -- typed parameters ------------------------------------------------------------------------


def typed(
    count: int = 1,
    ratio: float = 0.5,
    flag: bool = False,
    label: str = "x",
    items: list[str] = ["a"],  # noqa: B006 (never mutated)
    mode: Literal["fast", "slow"] = "fast",
    fill: float | Literal["exclude"] = 1.0,
    epochs: float = 3,
    path: str = None,  # type: ignore[assignment]  (None: anything goes)
    needed=None,
) -> dict:
    return {}


def several_forms(p="2", beta=100):  # type: ignore[no-untyped-def]
    """HLE's p: a string or a number, which its signature cannot say."""
    return {"p": p, "beta": beta}


several_forms.__param_types__ = {"p": "str | int"}  # type: ignore[attr-defined]


class TypedPlugin:
    @harness.hookimpl
    def register_tasks(self, register):
        register("typed", lambda **params: params)
        register("signature_typed", typed)
        register("several_forms", several_forms)


def _typed_params(overrides: list[str], name: str = "signature_typed") -> dict:
    return registry.resolve_params("task", name, Config.load(None, overrides, include_registry=False))


@pytest.mark.parametrize(
    "override",
    ["count=2", "ratio=1", "ratio=0.25", "flag=true", "label='\"y\"'", "items=['b', 'c']", "items=[]",
     "mode=slow", "fill=exclude", "fill=0.3", "fill=1", "epochs=2.5", "path=12", "needed={ a = 1 }"],
)
def test_a_value_of_the_declared_type_is_accepted(override: str):
    with installed(TypedPlugin(), "typed"):
        key = override.split("=", 1)[0]
        assert key in _typed_params([f"task.signature_typed.{override}"])


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("count=abc", "parameter count = 'abc' (set by -p) must be an integer (count: int)"),
        ("count=2.5", "parameter count = 2.5 (set by -p) must be an integer (count: int)"),
        ("count=true", "parameter count = True (set by -p) must be an integer (count: int)"),
        ("ratio=true", "parameter ratio = True (set by -p) must be a number (ratio: float)"),
        ("flag=1", "parameter flag = 1 (set by -p) must be true or false (flag: bool)"),
        ("label=3", "parameter label = 3 (set by -p) must be a string (label: str)"),
        ("items=a", "parameter items = 'a' (set by -p) must be a list such as [\"a\", \"b\"] (items: list)"),
        ("mode=medium", "parameter mode = 'medium' (set by -p) must be one of 'fast', 'slow' "
                        "(mode: 'fast' | 'slow')"),
        ("fill=[1]", "parameter fill = [1] (set by -p) must be one of 'exclude' or a number "
                     "(fill: 'exclude' | float)"),
    ],
)
def test_a_value_of_another_type_is_one_line_naming_the_parameter_the_strategy_and_the_valid_form(
    override: str, expected: str
):
    with installed(TypedPlugin(), "typed", distribution="typed-dist"):
        with pytest.raises(ParameterError) as info:
            _typed_params([f"task.signature_typed.{override}"])
        assert str(info.value) == f"task 'signature_typed' (typed-dist): {expected}"


def test_a_bad_value_in_a_config_file_names_the_file(tmp_path: Path):
    user = tmp_path / "user.toml"
    user.write_text('[task.signature_typed]\ncount = "many"\n')
    with installed(TypedPlugin(), "typed"):
        with pytest.raises(ParameterError, match=f"count = 'many' \\(set by {user}\\) must be an integer"):
            registry.create("task", "signature_typed", Config.load(user, include_registry=False))


def test_param_types_declares_several_forms_and_kwargs_take_anything():
    with installed(TypedPlugin(), "typed"):
        for value in ("2", "infty"):
            assert _typed_params([f"task.several_forms.p={value}"], "several_forms")["p"] in (2, "2", "infty")
        with pytest.raises(ParameterError, match=r"must be an integer or a string \(p: int \| str\)"):
            _typed_params(["task.several_forms.p=2.5"], "several_forms")
        with pytest.raises(ParameterError, match=r"beta = 'x' .* must be an integer \(beta: int\)"):
            _typed_params(["task.several_forms.beta=x"], "several_forms")
        assert _typed_params(["task.typed.anything=[1, 'a']"], "typed") == {"anything": [1, "a"]}
        types = registry.get("task", "signature_typed").parameter_types()
        assert {k: t.describe() for k, t in types.items()} == {
            "count": "int", "ratio": "float", "flag": "bool", "label": "str", "items": "list",
            "mode": "'fast' | 'slow'", "fill": "'exclude' | float", "epochs": "float", "path": "",
            "needed": "",
        }


def test_every_shipped_default_and_the_documented_forms_of_built_ins_pass_the_type_check():
    config = Config.load(overrides=[
        "metric.hle_calib_err.p=1", "metric.rms_calib_err.p=infty", "extractor.verbalized.on_missing=exclude",
        "backend.hf.chat_template=false", "trainer.implicit.target_modules=['q_proj']",
        "trainer.explicit.epochs=1", "task.simpleqa.topics=Science",
    ])
    for strategy in registry.strategies():
        if (strategy.kind, strategy.name) != ("task", "jsonl"):  # jsonl needs its path
            registry.resolve_params(strategy.kind, strategy.name, config)
    with pytest.raises(ParameterError, match="accuracy_at_coverage.*coverage = 'abc'.*must be a number"):
        registry.create("metric", "accuracy_at_coverage", Config.load(overrides=[
            "metric.accuracy_at_coverage.coverage=abc"]))


# -- what a factory builds is checked --------------------------------------------------------


class NoExtract:
    name = "no_extract"
    stop = ("\n",)

    def prompt(self, example):  # type: ignore[no-untyped-def]
        return ""


class CarelessExtractors:
    @harness.hookimpl
    def register_extractors(self, register):
        register("no_extract", NoExtract)
        register("a_dict", lambda: {"prompt": "Q", "stop": ()})


def test_an_extractor_without_its_members_fails_at_create_naming_it_and_its_distribution():
    with installed(CarelessExtractors(), "careless", distribution="careless-dist"):
        with pytest.raises(PluginContractError) as info:
            registry.create("extractor", "no_extract", Config())
        assert str(info.value) == (
            "extractor 'no_extract' (careless-dist): its factory built a NoExtract without extract "
            "(an extractor needs prompt, extract, stop; see harness.strategies.Extractor)"
        )
        with pytest.raises(PluginContractError, match="built a dict without prompt, extract, stop"):
            registry.create("extractor", "a_dict", Config())


# -- the shipped registry.toml ---------------------------------------------------------------


def _strategy_tables() -> list[tuple[str, dict]]:
    """Each kind's ``[kind.name]`` tables, each with the keys of ``[kind]`` it shares under its own."""
    data = shipped_registry()
    assert set(data) <= set(KINDS) | set(OTHER_SECTIONS), f"registry.toml: unknown tables {set(data)}"
    out = []
    for kind, tables in data.items():
        if kind in KINDS:
            shared = {k: v for k, v in tables.items() if not isinstance(v, dict)}
            out.append((kind, {n: {**shared, **t} for n, t in tables.items() if isinstance(t, dict)}))
    return out


def test_every_shipped_table_names_a_registered_strategy_and_only_parameters_it_accepts():
    for kind, tables in _strategy_tables():
        for name in tables:
            strategy = registry.get(kind, name)  # unknown: UnknownStrategyError
            strategy.effective_parameters(Config.load())  # unaccepted key: ParameterError


def _as_toml(value: object) -> object:
    """A Python default as TOML reads it back (a tuple default is a TOML array)."""
    if isinstance(value, (tuple, list)):
        return [_as_toml(v) for v in value]
    return value


def test_every_shipped_table_equals_its_factory_s_own_defaults():
    """The factory's keyword defaults and its registry.toml table say the same thing."""
    mismatches = []
    for kind, tables in _strategy_tables():
        for name, table in tables.items():
            own = registry.get(kind, name).parameters() or {}
            for key, value in table.items():
                if kind == "judge" and key in JUDGE_SETTINGS:
                    continue  # a judge may tune the core runner's settings
                if key in own and own[key] != registry.REQUIRED and _as_toml(own[key]) != value:
                    mismatches.append(f"[{kind}.{name}] {key} = {value!r}, factory default {own[key]!r}")
    assert not mismatches, "; ".join(mismatches)


def test_the_summary_harness_list_shows_is_the_docstring_s_first_sentence():
    def wrapped(x=1):  # type: ignore[no-untyped-def]
        """Accuracy per equal-mass bin. ``bins``: the number of
        bins, which continues here.

        Details."""

    def dotted(x=1):  # type: ignore[no-untyped-def]
        """Plain ``Question: ... / Answer:`` prompt; confidence from tokens"""

    def bare(x=1):  # type: ignore[no-untyped-def]
        return x

    assert registry.summary(wrapped) == "Accuracy per equal-mass bin."
    assert registry.summary(dotted) == "Plain ``Question: ... / Answer:`` prompt; confidence from tokens"
    assert registry.summary(bare) == ""
    long = registry.summary(wrapped, width=10)
    assert long == "Accuracy…" and len(long) <= 10
