"""Shared fixtures: an isolated cache folder and a tiny causal LM built offline."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Tiny models run fastest on one thread, and the suite shares the machine with itself.
os.environ.setdefault("OMP_NUM_THREADS", "1")

pytest_plugins = ["harness.testing"]  # the fixtures a plugin's own tests get too (harness_registry)

TINY_TEXTS = [
    f"Question: What is the colour of item {i}?\nAnswer: {c}\n"
    for i, c in enumerate(["red", "blue", "green", "yellow", "black", "white"] * 8)
] + [f"Answer: {w}\nConfidence: 0.{d}\n" for d, w in enumerate(["Paris", "Rome", "Oslo"] * 3)]


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Never touch the user's cache folder from a test."""
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "harness-cache"))


@pytest.fixture(scope="session")
def tiny_lm_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random 2-layer Llama with a BPE tokenizer trained on a few QA lines, saved to disk."""
    from harness.plugins.models.build import new_causal_lm, save_model, train_tokenizer

    folder = tmp_path_factory.mktemp("tiny-lm")
    tokenizer = train_tokenizer(TINY_TEXTS, vocab_size=300)
    model = new_causal_lm(tokenizer, hidden_size=32, num_layers=2, num_heads=4, seed=0)
    return save_model(model, tokenizer, folder)


@pytest.fixture(scope="session")
def learnable_lm_path(tiny_lm_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``tiny_lm_path`` with its embeddings scaled up so that LoRA can move its logits (the
    trainer tests); built once, read only."""
    from trainer_fixtures import learnable_lm

    return learnable_lm(tiny_lm_path, tmp_path_factory.mktemp("learnable-lm"))


def _has_cuda() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked ``gpu`` need a CUDA device: skip them where there is none."""
    gpu_items = [item for item in items if "gpu" in item.keywords]
    if gpu_items and not _has_cuda():
        skip = pytest.mark.skip(reason="needs a CUDA GPU")
        for item in gpu_items:
            item.add_marker(skip)
