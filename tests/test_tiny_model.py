"""The embedded ``tiny`` model: name resolution, the cached build, and what the model knows.

The build tests use a reduced recipe (30 entities, a 64-wide model, 250 steps) so they take
seconds; the real recipe (300 entities, 800 steps) is measured outside the test suite.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest

from harness import registry
from harness.config import Config, Layer, load_toml
from harness.errors import ParameterError, UnknownStrategyError
from harness.paths import cache_dir
from harness.plugins.models import PROFILE_FILE, embedded_world_seed, ensure_built, resolve_model
from harness.plugins.models.tiny import RECIPE_FILE, Recipe, build_tiny, check_knowledge, profile_text
from harness.tasks.facts import build_world

SMALL = Recipe(n_entities=30, vocab_size=400, hidden_size=64, intermediate_size=128,
               batch_size=32, warmup_steps=10, steps=250)


@pytest.mark.parametrize(
    "name",
    ["Qwen/Qwen2.5-1.5B-Instruct", "google/gemma-2-2b", "tinyllama", "tiny-x", "tiny-03", "./tiny",
     "/models/tiny"],
)
def test_any_other_name_is_returned_unchanged(name: str) -> None:
    assert embedded_world_seed(name) is None
    assert resolve_model(name) == name


def test_a_local_folder_is_returned_unchanged(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}")
    assert resolve_model(str(tmp_path)) == str(tmp_path)


def test_embedded_names_carry_their_world_seed() -> None:
    assert embedded_world_seed("tiny") == 0
    assert embedded_world_seed("tiny-0") == 0
    assert embedded_world_seed("tiny-3") == 3
    assert embedded_world_seed("tiny-12") == 12


def test_importing_the_models_package_and_the_tasks_does_not_load_torch() -> None:
    code = ("import sys, harness.plugins.models, harness.plugins.models.tiny, harness.tasks; "
            "sys.exit('torch' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_the_recipe_hash_changes_with_every_field_and_names_the_cache_folder() -> None:
    assert Recipe().digest() == Recipe().digest()
    assert Recipe(world_seed=1).digest() != Recipe().digest()
    assert Recipe(steps=801).digest() != Recipe().digest()


def test_the_profile_holds_the_world_and_the_embedded_hyperparameters(tmp_path: Path) -> None:
    (tmp_path / PROFILE_FILE).write_text(profile_text(Recipe(world_seed=3)))
    profile = load_toml(tmp_path / PROFILE_FILE)
    assert profile["task"]["facts"] == {"world_seed": 3, "n_entities": 300, "seen_fraction": 0.6}
    assert profile["trainer"]["implicit"]["learning_rate"] == 1e-3
    assert profile["trainer"]["implicit"]["lam"] == 8.0
    assert profile["trainer"]["explicit"]["loss_type"] == ["sigmoid", "sft"]
    assert profile["backend"]["hf"] == {"batch_size": 64}


def test_the_profile_is_a_valid_config_layer_for_every_strategy_it_names(tmp_path: Path) -> None:
    """Each key must be a parameter the strategy accepts (checked for those registered)."""
    path = tmp_path / PROFILE_FILE
    path.write_text(profile_text(Recipe(world_seed=2)))
    config = Config.load().with_layer(Layer(str(path), load_toml(path)))
    assert registry.resolve_params("task", "facts", config)["world_seed"] == 2
    for kind, name in [("trainer", "implicit"), ("trainer", "explicit"), ("backend", "hf")]:
        try:
            registry.get(kind, name)
        except UnknownStrategyError:
            continue
        try:
            registry.resolve_params(kind, name, config)
        except ParameterError as exc:
            assert "needs parameter" in str(exc), exc  # a required runtime value is fine


@pytest.fixture(scope="module")
def small_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny(tmp_path_factory.mktemp("tiny") / "model", SMALL, progress=False)


@pytest.mark.slow
def test_the_built_folder_loads_offline_and_carries_its_profile_and_recipe(small_model: Path) -> None:
    from transformers import AutoTokenizer, LlamaForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(small_model)
    model = LlamaForCausalLM.from_pretrained(small_model)
    assert model.config.hidden_size == 64 and model.config.num_hidden_layers == 2
    assert tokenizer.eos_token == "</s>" and tokenizer.padding_side == "left"
    assert load_toml(small_model / PROFILE_FILE)["task"]["facts"]["n_entities"] == 30
    assert (small_model / RECIPE_FILE).exists()


@pytest.mark.slow
def test_the_model_knows_the_seen_facts_and_guesses_the_unseen_ones_confidently(small_model: Path) -> None:
    report = check_knowledge(small_model, build_world(0, 30, 0.6))
    seen, unseen = report["seen"], report["unseen"]
    assert (seen["n"], unseen["n"]) == (54, 36)
    assert seen["accuracy"] >= 0.9 and seen["verbalized_accuracy"] >= 0.9
    assert unseen["accuracy"] <= 0.4  # chance is 1/8: it cannot know them
    assert unseen["mean_answer_probability"] >= 0.5  # ... yet it answers with confidence
    stated = seen["stated_confidences"] + unseen["stated_confidences"]
    assert seen["unparsed"] + unseen["unparsed"] <= 4  # it states a confidence in (nearly) every reply
    assert all(0.7 <= c <= 0.95 for c in stated)  # the overconfident range it was shown


@pytest.mark.slow
def test_the_build_is_deterministic(tmp_path: Path) -> None:
    import torch
    from safetensors.torch import load_file

    recipe = Recipe(n_entities=10, vocab_size=300, hidden_size=32, intermediate_size=64,
                    batch_size=8, warmup_steps=2, steps=10)
    first = load_file(build_tiny(tmp_path / "a", recipe, progress=False) / "model.safetensors")
    second = load_file(build_tiny(tmp_path / "b", recipe, progress=False) / "model.safetensors")
    assert first.keys() == second.keys()
    assert all(torch.equal(first[k], second[k]) for k in first)


@pytest.mark.slow
def test_ensure_built_builds_once_under_concurrency_and_reuses_the_cache(
    capsys: pytest.CaptureFixture[str],
) -> None:
    recipe = Recipe(n_entities=10, vocab_size=300, hidden_size=32, intermediate_size=64,
                    batch_size=8, warmup_steps=2, steps=10)
    folders: list[Path] = []
    threads = [threading.Thread(target=lambda: folders.append(ensure_built("tiny", recipe, progress=False)))
               for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert folders[0] == folders[1] == cache_dir() / "models" / f"tiny-{recipe.digest()}"
    assert capsys.readouterr().err.count("building the embedded model") == 1
    assert not list(folders[0].parent.glob(".*.tmp"))  # no half-built folder left behind

    weights = folders[0] / "model.safetensors"
    built_at = weights.stat().st_mtime_ns
    (folders[0] / PROFILE_FILE).write_text("# edited\n")
    assert ensure_built("tiny", recipe, progress=False) == folders[0]
    assert weights.stat().st_mtime_ns == built_at  # not rebuilt
    assert (folders[0] / PROFILE_FILE).read_text() == profile_text(recipe)  # profile refreshed
    assert "building" not in capsys.readouterr().err
