"""Configuration layers: the shipped registry, a user file, extra layers and ``-p`` overrides."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.errors import InputError, ParameterError
from harness.machinery.config import (
    OTHER_SECTIONS,
    STRATEGY_KINDS,
    Config,
    Layer,
    Override,
    load_toml,
    parse_value,
    shipped_registry,
)
from harness.machinery.kinds import KINDS


def test_config_kinds_are_the_plugin_kinds():
    assert STRATEGY_KINDS == tuple(KINDS)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("trainer.lam=0.5", Override("trainer", None, "lam", 0.5)),
        ("trainer.implicit.lam=0.5", Override("trainer", "implicit", "lam", 0.5)),
        ("task.path=data/simple qa.csv", Override("task", None, "path", "data/simple qa.csv")),
        ("judge.model = gpt-4o-mini ", Override("judge", None, "model", "gpt-4o-mini")),
        ('extractor.prefix="Q: "', Override("extractor", None, "prefix", "Q: ")),
        ("metric.ece.bins=15", Override("metric", "ece", "bins", 15)),
        ("backend.hf.greedy=true", Override("backend", "hf", "greedy", True)),
        ("task.topics=['art', 'music']", Override("task", None, "topics", ["art", "music"])),
        ("task.path=", Override("task", None, "path", "")),
        ("task.url=https://x.org/a=b", Override("task", None, "url", "https://x.org/a=b")),
    ],
)
def test_an_override_is_kind_optional_name_key_and_a_toml_value(text: str, expected: Override):
    assert Override.parse(text) == expected


@pytest.mark.parametrize("text", ["trainer", "trainer.lam", "lam=1", "trainer..lam=1", "a.b.c.d=1", ".lam=1"])
def test_a_malformed_override_says_what_shape_is_expected(text: str):
    with pytest.raises(ParameterError, match="expected kind.key=value or kind.name.key=value"):
        Override.parse(text)


def test_an_override_of_an_unknown_kind_lists_the_kinds():
    with pytest.raises(ParameterError, match=r"unknown kind 'trainers'; kinds: task, backend, extractor"):
        Override.parse("trainers.lam=1")


def test_an_override_prints_as_the_option_that_made_it():
    assert str(Override.parse("trainer.implicit.lam=1")) == "-p trainer.implicit.lam"
    assert str(Override.parse("trainer.lam=1")) == "-p trainer.lam"


@given(st.integers() | st.booleans() | st.floats(allow_nan=False, allow_infinity=False))
def test_a_number_or_bool_on_the_command_line_reads_back_as_itself(value):
    text = str(value).lower() if isinstance(value, bool) else repr(value)
    parsed = parse_value(text)
    assert parsed == value and type(parsed) is type(value)


@given(
    st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\"'\\\n\r"), min_size=1).filter(
        lambda s: s.strip() == s
    )
)
def test_a_value_that_is_not_toml_is_a_plain_string_or_what_toml_makes_of_it(text: str):
    parsed = parse_value(text)
    if isinstance(parsed, str):
        assert parsed == text


def test_the_shipped_registry_is_read_from_inside_the_package():
    data = shipped_registry()
    assert set(data) <= set(STRATEGY_KINDS + OTHER_SECTIONS)
    for kind in set(data) & set(STRATEGY_KINDS):  # tables per name, and (trainer) keys they share
        shared = {k for k, v in data[kind].items() if not isinstance(v, dict)}
        assert not shared or kind == "trainer", f"[{kind}] holds a non-table"


def test_load_reads_the_shipped_registry_then_the_user_file(tmp_path: Path):
    user = tmp_path / "mine.toml"
    user.write_text("[trainer.implicit]\nlam = 0.5\n[criteria]\nmin_reduction = 0.2\n")
    config = Config.load(user, ["trainer.lam=2"])
    assert [layer.source for layer in config.layers] == ["registry.toml", str(user)]
    assert config.describe() == ["registry.toml", str(user), "-p trainer.lam"]
    assert config.layers[1].params("trainer", "implicit") == {"lam": 0.5}
    assert config.layers[1].params("trainer", "explicit") == {}


def test_a_layer_goes_above_the_registry_and_below_the_user_file(tmp_path: Path):
    user = tmp_path / "mine.toml"
    user.write_text("")
    config = Config.load(user).with_layer(Layer("profile", {}))
    assert [layer.source for layer in config.layers] == ["registry.toml", "profile", str(user)]
    assert [x.source for x in Config.load().with_layer(Layer("profile", {})).layers] == [
        "registry.toml",
        "profile",
    ]


def test_a_section_merges_over_the_layers_lowest_first():
    config = Config(
        (
            Layer("registry.toml", {"criteria": {"min_reduction": 0.1, "max_accuracy_drop": 0.05}}),
            Layer("user.toml", {"criteria": {"min_reduction": 0.2}}),
        )
    )
    assert config.section("criteria") == {"min_reduction": 0.2, "max_accuracy_drop": 0.05}
    assert config.section("nothing") == {}


def test_a_settings_table_takes_p_section_key_over_its_layers():
    config = Config(
        (Layer("registry.toml", {"report": {"columns": ["accuracy"], "other": 1}}),),
        (Override.parse('report.columns=["brier", "my_metric"]'), Override.parse("criteria.min_n=5")),
    )
    assert config.section("report") == {"columns": ["brier", "my_metric"], "other": 1}
    assert config.section("criteria") == {"min_n": 5}
    config.check_overrides({})  # a settings override needs no selected strategy


def test_a_settings_override_has_no_strategy_name():
    with pytest.raises(ParameterError, match=r"-p 'report.x.columns=1': expected report.key=value"):
        Override.parse("report.x.columns=1")


# -- a kind's own table: keys shared by its strategies ([trainer] in registry.toml) ----------------

TAKES = {"epochs": 3, "lora_r": 16, "lam": 1.0}


def test_a_kinds_table_is_below_its_strategys_table_in_one_layer_and_above_a_lower_layers():
    registry_ = Layer("registry.toml", {"trainer": {"epochs": 3, "lora_r": 16, "rl": {"epochs": 1}}},
                      shared_to_all=False)
    user = Layer("mine.toml", {"trainer": {"lora_r": 4}})
    config = Config((registry_, user))
    assert config.layered_params("trainer", "rl", TAKES) == (
        {"epochs": 1, "lora_r": 4}, {"epochs": "registry.toml", "lora_r": "mine.toml"})
    # no [trainer.implicit] in that registry: its shared keys are not for implicit, the user's are
    assert config.layered_params("trainer", "implicit", TAKES)[0] == {"lora_r": 4}
    everyone = Config((registry_, Layer("mine.toml", {"trainer": {"epochs": 5}})))
    assert everyone.layered_params("trainer", "rl", TAKES)[0]["epochs"] == 5  # the user's [trainer] wins
    named = Config((registry_, Layer("mine.toml", {"trainer": {"epochs": 5, "rl": {"epochs": 2}}})))
    assert named.layered_params("trainer", "rl", TAKES)[0]["epochs"] == 2


def test_p_beats_every_layer_and_a_named_p_beats_a_kind_wide_one():
    layer = Layer("mine.toml", {"trainer": {"epochs": 5, "rl": {"epochs": 2}}})
    config = Config((layer,), (Override.parse("trainer.rl.epochs=7"), Override.parse("trainer.epochs=6")))
    assert config.layered_params("trainer", "rl", TAKES)[0]["epochs"] == 7
    assert config.layered_params("trainer", "implicit", TAKES)[0]["epochs"] == 6


def test_the_shipped_registrys_shared_keys_reach_only_the_strategies_it_has_a_table_for():
    """A plugin trainer keeps its own defaults; a user's [trainer] reaches it."""
    shipped = Layer("registry.toml", {"trainer": {"epochs": 3, "implicit": {"lam": 1.0}}},
                    shared_to_all=False)
    assert Config((shipped,)).layered_params("trainer", "implicit", TAKES)[0] == {"epochs": 3, "lam": 1.0}
    assert Config((shipped,)).layered_params("trainer", "plugin_trainer", TAKES)[0] == {}
    user = Layer("mine.toml", {"trainer": {"epochs": 1}})
    assert Config((shipped, user)).layered_params("trainer", "plugin_trainer", TAKES)[0] == {"epochs": 1}


def test_a_shared_key_a_strategy_does_not_take_is_skipped_one_no_selected_strategy_takes_is_an_error():
    user = Layer("mine.toml", {"trainer": {"lora_r": 4, "lora_rr": 5}})
    config = Config((user,))
    assert config.layered_params("trainer", "odd", {"epochs": 1, "lora_rr": 0})[0] == {"lora_rr": 5}
    with pytest.raises(ParameterError, match=r"mine.toml \[trainer\]: 'lora_rr' is a parameter of no "
                                             r"selected trainer \(implicit\); valid: epochs, lam, lora_r"):
        config.check_overrides({"trainer": [("implicit", TAKES)]})
    fine = Config((Layer("mine.toml", {"trainer": {"lora_r": 4}}),))
    fine.check_overrides({"trainer": [("implicit", TAKES)]})
    config.check_overrides({"trainer": []})  # no trainer selected: nothing to set


def test_a_kind_wide_override_is_skipped_by_a_strategy_that_does_not_take_it():
    config = Config(overrides=(Override.parse("trainer.lam=0.5"), Override.parse("trainer.epochs=1")))
    params, sources = config.layered_params("trainer", "explicit", {"epochs": 3, "beta": 0.1})
    assert params == {"epochs": 1} and sources == {"epochs": "-p"}


def test_check_overrides_needs_a_selected_strategy_of_the_kind():
    config = Config(overrides=(Override.parse("trainer.lam=0.5"),))
    with pytest.raises(ParameterError, match="-p trainer.lam: no trainer is selected in this run"):
        config.check_overrides({"trainer": []})
    config.check_overrides({"trainer": [("implicit", {"lam": 1.0}), ("explicit", {"beta": 0.1})]})
    config.check_overrides({"trainer": [("anything", None)]})  # a factory taking **kwargs


def test_check_overrides_names_every_selected_strategy_and_the_valid_keys():
    config = Config(overrides=(Override.parse("trainer.lamda=0.5"),))
    with pytest.raises(ParameterError) as info:
        config.check_overrides({"trainer": [("implicit", {"lam": 1.0}), ("explicit", {"beta": 0.1})]})
    assert str(info.value) == (
        "-p trainer.lamda: none of implicit, explicit has a parameter 'lamda'; valid: beta, lam"
    )


# -- bad files -------------------------------------------------------------------------------


def test_a_missing_config_file(tmp_path: Path):
    with pytest.raises(InputError, match=r"nope.toml: no such file$"):
        Config.load(tmp_path / "nope.toml")


def test_a_directory_is_not_a_config_file(tmp_path: Path):
    with pytest.raises(InputError, match="is a directory, not a TOML file"):
        load_toml(tmp_path)


def test_a_file_that_is_not_toml_says_where(tmp_path: Path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[trainer.implicit]\nlam = = 1\n")
    with pytest.raises(InputError, match=r"bad.toml: not valid TOML \(.*line 2"):
        Config.load(bad)


def test_a_file_that_is_not_text(tmp_path: Path):
    bad = tmp_path / "bad.toml"
    bad.write_bytes(b"\xff\xfe\x00binary")
    with pytest.raises(InputError, match="not a UTF-8 text file"):
        load_toml(bad)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_an_unreadable_file_is_an_input_error(tmp_path: Path):
    locked = tmp_path / "locked.toml"
    locked.write_text("")
    locked.chmod(0)
    with pytest.raises(InputError, match="cannot read: Permission denied"):
        load_toml(locked)


def test_an_unknown_table_lists_the_tables_a_config_may_have(tmp_path: Path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[trainers.implicit]\nlam = 1\n")
    with pytest.raises(ParameterError) as info:
        Config.load(bad)
    assert str(info.value) == (
        f"{bad}: unknown table [trainers]; expected one of: "
        "task, backend, extractor, judge, metric, calibrator, trainer, criteria, report"
    )


def test_a_kind_must_be_a_table_of_names_and_shared_keys(tmp_path: Path):
    bad = tmp_path / "bad.toml"
    bad.write_text("trainer = 1\n")
    with pytest.raises(
        ParameterError, match=r"\[trainer\] must hold one table per name, like \[trainer.NAME\], and the keys"
    ):
        Config.load(bad)
    shared = tmp_path / "shared.toml"
    shared.write_text("[trainer]\nlam = 1\n")
    assert Config.load(shared).layers[1].shared("trainer") == {"lam": 1}
