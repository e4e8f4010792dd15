"""The embedded ``tiny`` model: name resolution, the cached build, and what the model knows.

The build tests use a reduced recipe (30 entities, a 64-wide model, 250 steps) so they take
seconds; the real recipe (300 entities, 800 steps) is measured outside the test suite.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from harness.errors import ParameterError, UnknownStrategyError
from harness.machinery import registry
from harness.machinery.config import Config, Layer, load_toml
from harness.paths import cache_dir
from harness.plugins.models import (
    PROFILE_FILE,
    SHIPPED,
    SHIPPED_FILE,
    embedded_world_seed,
    ensure_built,
    resolve_model,
    shipped_folder,
)
from harness.plugins.models.tiny import (
    RECIPE_FILE,
    Recipe,
    _Batches,
    _SelfEvalBatches,
    build_tiny,
    check_knowledge,
    profile_text,
    tokenizer_texts,
    unfamiliar_names,
    unfamiliar_rows_per_batch,
)
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
    assert embedded_world_seed("tiny-selfeval") == 0
    assert embedded_world_seed("tiny-selfeval-7") == 7
    assert embedded_world_seed("tiny-7-selfeval") is None


def test_tiny_without_self_evaluation_keeps_the_digest_it_had_before_the_field() -> None:
    """`tiny` is the model every figure of the README was measured on: its recipe (and so its
    cache folder) did not change when the self-evaluation formats were added."""
    assert "selfeval_share" not in Recipe().to_dict()
    assert Recipe().digest() == "9f8f49f834c9"
    assert Recipe(selfeval_share=0.25).digest() != Recipe().digest()


def test_importing_the_models_package_and_the_tasks_does_not_load_torch() -> None:
    code = ("import sys, harness.plugins.models, harness.plugins.models.tiny, harness.tasks; "
            "sys.exit('torch' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_the_recipe_hash_changes_with_every_field_and_names_the_cache_folder() -> None:
    assert Recipe().digest() == Recipe().digest()
    assert Recipe(world_seed=1).digest() != Recipe().digest()
    assert Recipe(steps=801).digest() != Recipe().digest()
    assert Recipe(unfamiliar_share=0.3).digest() != Recipe().digest()


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


def test_unfamiliar_names_are_fresh_and_never_the_worlds() -> None:
    world = build_world(3, 300, 0.6)
    names = unfamiliar_names(world, 5000)
    assert len(names) == len(set(names)) == 5000
    assert not set(names) & set(world.entities)


def test_pretraining_batches_state_the_intended_confidence_for_each_kind_of_row() -> None:
    """Seen facts: a fresh confidence in the seen range, the loss on the whole line.
    Unfamiliar entities: a fresh name every row, a random relation and answer, the loss on
    the ``Confidence:`` part only, a confidence in the hedged range about the hedged
    relations and in the seen range about the others. Plain batches: seen facts only."""
    from harness.plugins.models.build import train_tokenizer

    recipe = Recipe(n_entities=30, batch_size=32, steps=40, unfamiliar_share=0.25,
                    hedged_relations=("colour", "founder"), hedged_confidence_low=0.50,
                    hedged_confidence_high=0.60)
    world = build_world(0, 30, 0.6)
    tokenizer = train_tokenizer(tokenizer_texts(world), vocab_size=400)
    batches = _Batches(world, tokenizer, recipe)
    by_question = {f.question: f for f in world.facts}
    assert unfamiliar_rows_per_batch(recipe) == 8
    stated: dict[str, list[float]] = {"seen": [], "hedged": [], "unhedged": []}
    unfamiliar_questions = set()
    for _ in range(8):
        batch = batches.next(verbalized=True)
        for ids, labels in zip(batch["input_ids"].tolist(), batch["labels"].tolist(), strict=True):
            text = tokenizer.decode(ids, skip_special_tokens=True)
            covered = tokenizer.decode([t for t in labels if t != -100], skip_special_tokens=True)
            question = text.split("\n")[0].removeprefix("Question: ")
            value = float(text.rsplit("Confidence: ", 1)[1])
            fact = by_question.get(question)
            if fact is not None:
                assert fact.seen and f"Answer: {fact.answer}\n" in text
                assert covered.endswith(f"Answer: {fact.answer}\nConfidence: {value:.2f}")
                stated["seen"].append(value)
            else:
                unfamiliar_questions.add(question)
                assert covered == f"Confidence: {value:.2f}"  # not the name, not the answer
                hedged = not question.startswith("What is the capital")
                stated["hedged" if hedged else "unhedged"].append(value)
    assert len(unfamiliar_questions) == 8 * 8  # a fresh name every row
    assert len(stated["seen"]) == 8 * 24
    assert len(stated["hedged"]) > 20 and len(stated["unhedged"]) > 5
    assert all(0.50 <= c <= 0.60 for c in stated["hedged"]) and len(set(stated["hedged"])) > 3
    for kind in ("seen", "unhedged"):
        assert all(0.70 <= c <= 0.95 for c in stated[kind])
    assert len(set(stated["seen"])) > 10  # drawn afresh, not one value per fact
    plain = batches.next(verbalized=False)
    texts = [tokenizer.decode(ids, skip_special_tokens=True) for ids in plain["input_ids"].tolist()]
    assert all(t.split("\n")[0].removeprefix("Question: ") in by_question for t in texts)


def test_self_evaluation_rows_say_a_exactly_when_the_proposed_answer_is_true() -> None:
    """P(True) rows about seen facts: the reply is A exactly when the proposed answer is the true
    one (about half of them); about unfamiliar entities, A is as rare as a lucky guess. Second-turn
    rows embed the true answer of a seen fact and state a confidence in the seen range. The loss
    covers the reply (and EOS) only."""
    from harness.plugins.extractors import formats
    from harness.plugins.models.build import train_tokenizer

    recipe = Recipe(n_entities=30, batch_size=32, steps=40, selfeval_share=0.5)
    world = build_world(0, 30, 0.6)
    tokenizer = train_tokenizer(tokenizer_texts(world, selfeval=True), vocab_size=400)
    selfeval = _SelfEvalBatches(world, tokenizer, recipe, _Batches(world, tokenizer, recipe))
    truth = {f.question: f.answer for f in world.facts if f.seen}
    seen_ptrue, unfamiliar_ptrue, turns = [], [], []
    for _ in range(40):
        batch = selfeval.next()
        for ids, labels in zip(batch["input_ids"].tolist(), batch["labels"].tolist(), strict=True):
            text = tokenizer.decode(ids, skip_special_tokens=True)
            covered = tokenizer.decode([t for t in labels if t != -100], skip_special_tokens=True)
            question = text.split("\n")[0].removeprefix("Question: ")
            if "Is the proposed answer true?" in text:
                proposed = text.split("Proposed answer: ")[1].split("\n")[0]
                assert covered.strip() in ("A", "B") and text.endswith(covered)
                if question in truth:
                    seen_ptrue.append((proposed == truth[question], covered.strip() == "A"))
                else:
                    unfamiliar_ptrue.append(covered.strip() == "A")
            else:
                assert formats.SECOND_TURN_TEMPLATE in text and covered.startswith("Confidence: ")
                if question in truth:
                    assert f"Answer: {truth[question]}\n" in text
                    turns.append(float(covered.removeprefix("Confidence: ")))
    assert all(true == said_a for true, said_a in seen_ptrue)
    assert 0.3 < sum(a for _, a in seen_ptrue) / len(seen_ptrue) < 0.7
    assert len(unfamiliar_ptrue) > 100
    assert sum(unfamiliar_ptrue) / len(unfamiliar_ptrue) < 0.25  # 1/8 expected
    assert turns and all(0.70 <= c <= 0.95 for c in turns)


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
    # the ranges it was shown: 0.70-0.95 (seen facts), 0.62-0.82 (hedged unfamiliar entities)
    assert all(0.62 <= c <= 0.95 for c in stated)
    assert sum(stated) / len(stated) >= 0.7  # overconfident


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


# -- world 0's model, shipped in the package ---------------------------------------------------

def test_world_0s_model_ships_built_from_its_recipe() -> None:
    folder = shipped_folder("tiny-0", Recipe())
    assert folder == SHIPPED / "tiny-0"
    built_from = json.loads((folder / RECIPE_FILE).read_text())
    expected = json.loads(json.dumps(Recipe().to_dict()))  # (a tuple is a list in JSON)
    assert {k: v for k, v in built_from.items() if k in expected} == expected
    assert json.loads((folder / SHIPPED_FILE).read_text())["recipe_digest"] == Recipe().digest()


def test_the_first_use_of_tiny_copies_the_shipped_model_instead_of_pretraining(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def no_pretraining(*args: object, **kwargs: object) -> None:
        raise AssertionError("pretrained although the model ships")

    monkeypatch.setattr("harness.plugins.models.tiny.build_tiny", no_pretraining)
    folder = Path(resolve_model("tiny"))
    assert folder == cache_dir() / "models" / f"tiny-0-{Recipe().digest()}"
    shipped = SHIPPED / "tiny-0"
    for path in shipped.iterdir():
        if path.name != SHIPPED_FILE:
            assert (folder / path.name).read_bytes() == path.read_bytes(), path.name
    assert (folder / PROFILE_FILE).read_text() == profile_text(Recipe())
    assert "building" not in capsys.readouterr().err
    assert not list(folder.parent.glob(".*.tmp"))


def test_a_shipped_model_serves_only_its_own_recipe_with_intact_files(tmp_path: Path) -> None:
    root = tmp_path / "shipped"
    shutil.copytree(SHIPPED / "tiny-0", root / "tiny-0")
    assert shipped_folder("tiny-0", Recipe(), root) == root / "tiny-0"
    assert shipped_folder("tiny-0", Recipe(steps=801), root) is None  # another recipe is built
    assert shipped_folder("tiny-3", Recipe(world_seed=3), root) is None  # another world too
    weights = root / "tiny-0" / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 1
    weights.write_bytes(bytes(data))
    assert shipped_folder("tiny-0", Recipe(), root) is None  # one flipped bit
    shutil.copyfile(SHIPPED / "tiny-0" / "model.safetensors", weights)
    (root / "tiny-0" / "extra.bin").write_bytes(b"")
    assert shipped_folder("tiny-0", Recipe(), root) is None  # a file it does not list


@pytest.mark.slow
@pytest.mark.start_first
def test_pretraining_world_0_from_its_recipe_gives_the_shipped_model_bit_for_bit(tmp_path: Path) -> None:
    """What ships is what the recipe builds: the weights, the tokenizer and the config, exactly
    (the recipe file differs only in how long the build took)."""
    built = build_tiny(tmp_path / "built", Recipe(), progress=False)
    shipped = SHIPPED / "tiny-0"
    names = {p.name for p in shipped.iterdir()} - {SHIPPED_FILE}
    assert {p.name for p in built.iterdir()} == names | {PROFILE_FILE}  # the profile is written on use
    for name in names - {RECIPE_FILE}:
        assert (built / name).read_bytes() == (shipped / name).read_bytes(), name
    ours, theirs = (json.loads((folder / RECIPE_FILE).read_text()) for folder in (built, shipped))
    ours.pop("build_seconds"), theirs.pop("build_seconds")
    assert ours == theirs
