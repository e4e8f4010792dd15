"""Shared fixtures (an isolated cache folder, a tiny causal LM built offline) and the tiers.

The tiers: a test is marked ``integration`` here, automatically, when it uses a model
(a fixture that depends on ``tiny_lm_path``), starts a process, pip-installs a distribution or
starts a server — seen in its own source or in that of a helper of its module that it calls
(see ``INTEGRATION_SIGNS``). ``pytest -m "not slow and not integration"`` is the fast tier.

The suite sees only the built-in plugins and those its tests install: ``harness.testing``
(below, in ``pytest_plugins``) hides the third-party plugins installed beside the harness and
forgets ``HARNESS_PLUGINS`` / ``HARNESS_DISABLE_PLUGINS`` at session start.
"""

from __future__ import annotations

import ast
import inspect
import os
import re
from functools import cache
from pathlib import Path
from types import ModuleType

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
    """Never touch the user's cache folder from a test. The folder is the session's (under
    pytest-xdist, each worker's own: its base temp folder is), so the embedded model, the
    judge cache and the run locks are shared by one process's tests only."""
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


#: a test that uses one of these fixtures (directly or through another fixture) uses a model
INTEGRATION_FIXTURES = frozenset({"tiny_lm_path"})
#: what in a test's source (or in that of a fixture it uses, or of a helper of its module that
#: it calls) starts a process, a pip install or a server, or pretrains a model (world 0's
#: ``tiny`` ships: resolving it costs a copy)
INTEGRATION_SIGNS = re.compile(
    r"subprocess\.(run|Popen|call|check_call|check_output)\(|fresh_interpreter=True|\bpip\(|\binstall\("
    r"|\binstalled\((?![A-Z]\w*\(\))"  # harness.testing's (a path), not plugin_helpers' (an object)
    r"|Server\(|HTTPServer|build_tiny\(|multiprocessing|ProcessPool"
)


@cache
def _integration_helpers(module: ModuleType) -> frozenset[str]:
    """The names of the module's own functions whose source shows an ``INTEGRATION_SIGNS``."""
    try:
        tree = ast.parse(inspect.getsource(module))
    except (OSError, TypeError, SyntaxError):
        return frozenset()
    source = inspect.getsource(module).splitlines()
    names = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and not node.name.startswith("test"):
            text = "\n".join(source[node.lineno - 1 : node.end_lineno])
            if INTEGRATION_SIGNS.search(text):
                names.add(node.name)
    return frozenset(names)


@cache
def _shows_signs(function: object) -> bool:
    try:
        return bool(INTEGRATION_SIGNS.search(inspect.getsource(function)))  # type: ignore[arg-type]
    except (OSError, TypeError):
        return False


def _is_integration(item: pytest.Item) -> bool:
    names = getattr(item, "fixturenames", ())
    if INTEGRATION_FIXTURES.intersection(names):
        return True
    definitions = getattr(getattr(item, "_fixtureinfo", None), "name2fixturedefs", {})
    for name in names:
        if any(_shows_signs(d.func) for d in definitions.get(name, ()) if d.baseid):  # not pytest's own
            return True
    function, module = getattr(item, "function", None), getattr(item, "module", None)
    if function is None or module is None:
        return False
    try:
        text = inspect.getsource(function)
    except (OSError, TypeError):
        return False
    if INTEGRATION_SIGNS.search(text):
        return True
    return any(re.search(rf"\b{name}\(", text) for name in _integration_helpers(module))


@pytest.hookimpl(wrapper=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]):  # type: ignore[no-untyped-def]
    """Mark the ``integration`` tests (see the module's docstring) before ``-m`` selects;
    tests marked ``gpu`` need a CUDA device: skip them where there is none. After the
    selection, on a pytest-xdist worker: the ``start_first`` tests where each worker starts."""
    integration = pytest.mark.integration
    for item in items:
        if "integration" not in item.keywords and _is_integration(item):
            item.add_marker(integration)
    gpu_items = [item for item in items if "gpu" in item.keywords]
    if gpu_items and not _has_cuda():
        skip = pytest.mark.skip(reason="needs a CUDA GPU")
        for item in gpu_items:
            item.add_marker(skip)
    yield
    worker = getattr(config, "workerinput", {})
    if "workercount" in worker:
        items[:] = start_first(items, worker["workercount"], worker.get(SCHEDULER_KEY, "load"))


#: how a worker learns the controller's ``--dist`` (on a worker, ``dist`` reads "no")
SCHEDULER_KEY = "harness_tests_dist"


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node) -> None:  # type: ignore[no-untyped-def]
    """pytest-xdist's controller, before a worker starts: hand it the scheduler's name."""
    node.workerinput[SCHEDULER_KEY] = node.config.getoption("dist")


def start_first(items: list[pytest.Item], workers: int, dist: str) -> list[pytest.Item]:
    """``items`` with the ``start_first`` tests (over a minute each) moved where pytest-xdist's
    scheduler (``dist``; ``worksteal`` by default: see pyproject.toml) starts each worker's run
    of consecutive tests, dealt round-robin: started late, two of them on one worker would end
    the run alone. Every worker computes the same order, as xdist requires. (Dealing the
    ``slow`` tests too was measured slower: they then run side by side and contend.)"""
    first = [item for item in items if "start_first" in item.keywords]
    if not first or len(items) < 2 * workers:
        return items
    rest = [item for item in items if "start_first" not in item.keywords]
    starts = _worker_starts(len(items), workers, dist) + [len(items)]
    ordered: list[pytest.Item] = []
    for worker in range(workers):
        heads = first[worker::workers]
        size = starts[worker + 1] - starts[worker]
        take = max(size - len(heads), 0) if worker < workers - 1 else len(rest)
        ordered += heads + rest[:take]
        rest = rest[take:]
    return ordered + rest


def _worker_starts(total: int, workers: int, dist: str) -> list[int]:
    """Where xdist hands each worker its first run of consecutive tests: ``worksteal`` splits
    the whole collection evenly (``WorkStealingScheduling.check_schedule``), ``load`` deals
    chunks of a quarter of a worker's share (``LoadScheduling.schedule``)."""
    if dist == "worksteal":
        starts, sent = [], 0
        for worker in range(workers):
            starts.append(sent)
            sent += (total - sent) // (workers - worker)
        return starts
    chunk = max(total // workers // 4, 2)
    return [worker * chunk for worker in range(workers)]
