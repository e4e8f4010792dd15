"""The parameters every trainer shares are declared once (``TrainSettings`` and ``chat_template`` in
``plugins/trainers/common.py``); each trainer's signature holds only what it adds, its
``__keyword_params__`` only the defaults it overrides. What users see is unchanged: the registry
lists every shared parameter of every trainer with its type and default, ``-p`` sets it, and a bad
or unknown value is one ``ParameterError`` line."""

from __future__ import annotations

import inspect
import re

import attrs
import pytest

from harness.errors import ParameterError
from harness.machinery import registry
from harness.machinery.config import Config, shipped_registry
from harness.plugins.trainers import common

TRAINERS = ("implicit", "explicit", "brier", "ptrue_tuning", "rl")
SHARED = [*attrs.fields_dict(common.TrainSettings), "chat_template"]


@pytest.mark.parametrize("name", TRAINERS)
def test_a_trainer_s_signature_holds_only_its_own_parameters(name):
    factory = registry.get("trainer", name).factory
    written = set(inspect.signature(factory).parameters) - {"self", "params"}
    assert not written & set(SHARED), f"{name} repeats shared parameters {written & set(SHARED)}"
    listed = registry.get("trainer", name).parameters()
    assert set(SHARED) <= set(listed)  # yet the registry lists every shared one
    assert set(listed) == written | set(SHARED)


@pytest.mark.parametrize("name", TRAINERS)
def test_the_shared_parameters_have_one_type_for_every_trainer(name):
    types = registry.get("trainer", name).parameter_types()
    described = {key: types[key].describe() for key in SHARED}
    assert described == {
        "lora_r": "int", "lora_alpha": "float", "lora_dropout": "float", "target_modules": "str | list",
        "epochs": "float", "learning_rate": "float", "batch_size": "int",
        "gradient_accumulation_steps": "int",
        "seed": "int", "merge": "bool", "max_length": "int", "report_to": "str | list",
        "chat_template": "bool | str", "training_args": "",  # a table or a JSON string: the trainer checks it
    }


def test_a_trainer_overrides_only_the_defaults_it_changes():
    defaults = {name: registry.get("trainer", name).parameters() for name in TRAINERS}
    assert defaults["implicit"]["epochs"] == 3 and defaults["rl"]["epochs"] == 1
    assert (defaults["rl"]["batch_size"], defaults["ptrue_tuning"]["batch_size"]) == (8, 8)
    ptrue = defaults["ptrue_tuning"]
    own = (ptrue["lora_r"], ptrue["lora_alpha"], ptrue["learning_rate"], ptrue["max_length"])
    assert own == (8, 16, 1e-4, 512)
    assert ptrue["lora_dropout"] == defaults["implicit"]["lora_dropout"] == 0.05  # not overridden: shared
    shipped = shipped_registry()["trainer"]
    written_once = {k: v for k, v in shipped.items() if not isinstance(v, dict)}  # [trainer]
    # a table-valued parameter (training_args) cannot be written in [trainer], where a table is a trainer's
    scalar = {k for k in SHARED if not isinstance(defaults["implicit"][k], dict)}
    assert set(written_once) == scalar and "training_args" in set(SHARED) - scalar
    for name in TRAINERS:  # the shipped registry.toml documents the same values: [trainer] < [trainer.NAME]
        table = {**written_once, **shipped[name]}
        assert {k: table[k] for k in scalar} == {k: _as_toml(defaults[name][k]) for k in scalar}
        assert not {k: v for k, v in shipped[name].items() if k in SHARED and v == written_once[k]}, \
            f"[trainer.{name}] repeats a value of [trainer]"
        assert registry.resolve_params("trainer", name) == {k: _as_toml(v) for k, v in defaults[name].items()}


def _as_toml(value: object) -> object:
    return list(value) if isinstance(value, tuple) else value


def test_the_built_settings_take_the_trainer_s_defaults_and_the_overrides():
    rl = registry.create("trainer", "rl", Config.load(overrides=["trainer.rl.lora_r=4"]))
    assert (rl.settings.lora_r, rl.settings.epochs, rl.settings.batch_size) == (4, 1, 8)
    ptrue = registry.get("trainer", "ptrue_tuning").factory(seed=3)
    assert (ptrue.settings.seed, ptrue.settings.lora_r, ptrue.settings.max_length) == (3, 8, 512)


@pytest.mark.parametrize("override, message", [
    ("trainer.brier.lora_r=0", "lora_r = 0; expected a positive integer"),
    ("trainer.explicit.lora_dropout=1.5", "lora_dropout = 1.5; expected a number in [0, 1)"),
    ("trainer.rl.merge=\"yes\"", "merge"),
    ("trainer.implicit.lora_rank=8", "lora_rank"),
    ("trainer.brier.training_args={learning_rate = 1e-3}",
     "training_args: learning_rate is set by the trainer's own parameter learning_rate"),
    ("trainer.implicit.training_args={warmup = 3}",
     "training_args: warmup: not a field of TrainingArguments"),
])
def test_a_bad_or_unknown_shared_parameter_is_one_line(override, message):
    with pytest.raises(ParameterError, match=re.escape(message)) as caught:
        registry.create("trainer", override.split(".")[1], Config.load(overrides=[override]))
    assert "\n" not in str(caught.value)


def test_training_args_reach_every_trainer_s_training_arguments(tmp_path):
    """``training_args`` (a TOML table or a JSON object) goes into ``TrainingArguments`` after the
    shared arguments, for every trainer (each builds its config from ``common_arguments``)."""
    from transformers import TrainingArguments

    cpu = common.Precision(use_cpu=True, bf16=False)
    for name, value in (("implicit", "{max_grad_norm = 0.5}"), ("explicit", '\'{"max_grad_norm": 0.5}\'')):
        overrides = [f"trainer.{name}.training_args={value}"]
        trainer = registry.create("trainer", name, Config.load(overrides=overrides))
        assert trainer.settings.training_args == {"max_grad_norm": 0.5}
        arguments = common.common_arguments(trainer.settings, cpu, tmp_path)
        assert TrainingArguments(**arguments).max_grad_norm == 0.5
    none = common.common_arguments(common.TrainSettings(), cpu, tmp_path)
    assert TrainingArguments(**none).max_grad_norm == 1.0  # transformers' default, untouched


def test_an_unknown_keyword_in_python_is_a_type_error_as_for_a_signature():
    with pytest.raises(TypeError, match="lora_rank"):
        registry.get("trainer", "implicit").factory(lora_rank=8)
    with pytest.raises(TypeError, match="not a shared trainer parameter: lr"):
        common.shared_parameters(lr=1e-3)
