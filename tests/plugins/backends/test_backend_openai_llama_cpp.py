"""The ``openai`` backend against a real OpenAI-compatible server: llama.cpp's (``llama-cpp-python``),
serving the embedded tiny model converted to GGUF (``tests/llama_server.py``; skipped, with the
reason, where llama-cpp-python or its source's converter is absent; ``.ci/run`` has both and
requires the tier).

``harness run --backend openai`` end to end, beside ``harness run`` on the ``hf`` backend with the
same model: the same answers, and per-token log-probabilities equal within ``TOLERANCE``
(llama.cpp computes in its own f32 kernels, transformers in torch's: on 40 questions of the
``facts`` task llama-cpp-python 0.3.36 differed by 8.9e-5 on average, 9.1e-4 at most; the bound
leaves room for another llama.cpp build). ``top_logprobs`` entropies are the renormalised top-K entropy of the
model's own distribution, completions and chat both.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from llama_server import convert, serve, skip_reason

from harness.testing import run_harness

pytestmark = [pytest.mark.skipif(skip_reason() is not None, reason=skip_reason() or ""), pytest.mark.slow]

#: per-token log-probabilities, llama.cpp's server against transformers (nats)
TOLERANCE = 2e-3
LIMIT = 40
TOP = 5


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    from harness.plugins.models import resolve_model

    tiny = Path(resolve_model("tiny"))
    gguf = convert(tiny, tmp_path_factory.mktemp("gguf") / "tiny.gguf")
    with serve(gguf) as url:
        yield tiny, gguf, url


def generations(run: Path) -> dict[str, dict]:
    rows = {}
    for path in sorted((run / "baseline").glob("*/*/generations.jsonl")):
        for line in path.read_text().splitlines():
            row = json.loads(line)
            rows[row["example_id"]] = row
    return rows


def harness_run(out: Path, *extra: str) -> dict[str, dict]:
    done = run_harness("run", "--task", "facts", "--limit", str(LIMIT), "--calibrator", "none",
                       "--out", str(out), *extra)
    assert done.returncode == 0, done.stderr[-3000:]
    return generations(out)


def openai_args(served, api: str, *extra: str) -> list[str]:  # type: ignore[no-untyped-def]
    tiny, gguf, url = served
    return ["--backend", "openai", "--model", str(gguf), "-p", f"backend.base_url={url}", "-p",
            f"backend.api={api}", "-p", f"backend.tokenizer={tiny}", *extra]


@pytest.fixture(scope="module")
def hf_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    return harness_run(tmp_path_factory.mktemp("hf") / "run")


def test_completions_give_the_hf_backends_answers_and_log_probabilities(served, hf_run, tmp_path):  # type: ignore[no-untyped-def]
    served_run = harness_run(tmp_path / "run", *openai_args(served, "completions"))
    assert set(served_run) == set(hf_run) and len(hf_run) == LIMIT
    worst = 0.0
    for example_id, hf in hf_run.items():
        got = served_run[example_id]
        assert got["error"] is None, got["error"]
        assert got["text"] == hf["text"], example_id
        assert got["tokens"] == hf["tokens"], example_id
        assert len(got["logprobs"]) == len(hf["logprobs"]) > 0
        worst = max([worst, *(abs(a - b) for a, b in zip(got["logprobs"], hf["logprobs"], strict=True))])
    assert worst <= TOLERANCE, worst


def top_k_entropies(model_dir: Path, prompt: str, token_ids: list[int], k: int) -> list[float]:
    """The renormalised entropy of the top ``k`` log-probabilities at each generated position,
    from the transformers model itself."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir).eval()
    ids = tokenizer(prompt)["input_ids"] + token_ids
    with torch.no_grad():
        logits = model(torch.tensor([ids])).logits[0].float()
    out = []
    for position in range(len(ids) - len(token_ids) - 1, len(ids) - 1):
        top = torch.log_softmax(logits[position], dim=-1).topk(k).values
        p = torch.softmax(top, dim=-1)
        out.append(float(-(p * p.log()).sum()))
    return out


def test_top_logprobs_entropies_are_those_of_the_model_s_own_top_k(served, hf_run, tmp_path):  # type: ignore[no-untyped-def]
    from transformers import AutoTokenizer

    tiny = served[0]
    args = openai_args(served, "completions", "-p", f"backend.top_logprobs={TOP}")
    run = harness_run(tmp_path / "run", *args)
    tokenizer = AutoTokenizer.from_pretrained(tiny)
    checked = 0
    for example_id, row in list(run.items())[:8]:
        assert row["error"] is None and row["entropies"], row
        assert all(0 <= e <= math.log(TOP) + 1e-9 for e in row["entropies"])
        assert row["logprobs"] == pytest.approx(hf_run[example_id]["logprobs"], abs=TOLERANCE)
        ids = tokenizer(row["text"], add_special_tokens=False)["input_ids"]
        if len(ids) != len(row["entropies"]):
            continue  # the text re-tokenizes otherwise than it was generated: no position to compare
        expected = top_k_entropies(tiny, row["prompt"], ids, TOP)
        assert row["entropies"] == pytest.approx(expected, abs=5 * TOLERANCE), example_id
        checked += 1
    assert checked >= 3


@pytest.mark.parametrize("top", [0, TOP])
def test_chat_log_probabilities_and_entropies_are_read_from_the_server_s_reply(served, tmp_path, top):  # type: ignore[no-untyped-def]
    """The server formats the chat prompt its own way (the GGUF's template, else llama-2's), so the
    figures are not the hf backend's; what is checked is that its reply is read whole: a
    log-probability for every token, and entropies of the top ``top`` where asked. (With
    ``top_logprobs`` unset that server sends no log-probabilities on chat at all: the backend
    always asks for at least one.)"""
    run = harness_run(tmp_path / "run", *openai_args(served, "chat", "-p", f"backend.top_logprobs={top}"))
    assert len(run) == LIMIT
    for row in run.values():
        assert row["error"] is None, row["error"]
        assert len(row["logprobs"]) == len(row["tokens"]) > 0
        assert all(lp is not None and lp <= 0 for lp in row["logprobs"])
        assert len(row["entropies"]) == (len(row["tokens"]) if top else 0)
        assert all(0 <= e <= math.log(TOP) + 1e-9 for e in row["entropies"])
