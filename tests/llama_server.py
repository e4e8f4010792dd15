"""A real OpenAI-compatible server for the tests: llama.cpp's, as the ``llama-cpp-python`` package
serves it, on 127.0.0.1, serving a model converted to GGUF.

Two parts come from outside the test environment, and a test that needs them is skipped, with
the reason, where either is missing:

- the ``llama_cpp`` package with its server (``pip install "llama-cpp-python[server]"``, built
  from source: ~7 minutes; ``.ci/run`` installs it);
- llama.cpp's converter, ``convert_hf_to_gguf.py`` with its ``conversion`` package and
  ``gguf-py``, which only the package's source holds: the folder ``$LLAMA_CPP_SOURCE`` (the
  unpacked ``llama_cpp_python-X.tar.gz``, or its ``vendor/llama.cpp``).

Where ``$HARNESS_REQUIRE_LLAMA_CPP`` is ``1`` (``.ci/run`` sets it once both are in place) a missing
part fails those tests instead of skipping them: there the tier must run.

The converter recognises a BPE pre-tokenizer by a hash of the known ones; the tiny models' is
byte-level BPE like GPT-2's, so it is declared ``gpt-2``, and their tokenizers have no
SentencePiece ``tokenizer.model``, so that route is skipped (the converter tries it first and
needs the ``sentencepiece`` package only to find out).
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

#: the converter run in a child process (the converter's modules stay out of the test process)
CONVERT = """
import sys
sys.path.insert(0, sys.argv[1])
import conversion.base as base

base.TextModel.get_vocab_base_pre = lambda self, tokenizer: "gpt-2"


def no_sentencepiece(self):
    raise FileNotFoundError("no tokenizer.model: byte-level BPE")


base.TextModel._set_vocab_sentencepiece = no_sentencepiece
sys.argv = ["convert_hf_to_gguf.py", sys.argv[2], "--outtype", "f32", "--outfile", sys.argv[3]]
import convert_hf_to_gguf

convert_hf_to_gguf.main()
"""


def converter_dir() -> Path | None:
    """llama.cpp's folder holding ``convert_hf_to_gguf.py`` under ``$LLAMA_CPP_SOURCE``, or None."""
    root = os.environ.get("LLAMA_CPP_SOURCE", "")
    if not root:
        return None
    for folder in (Path(root), Path(root) / "vendor" / "llama.cpp"):
        if (folder / "convert_hf_to_gguf.py").is_file() and (folder / "gguf-py").is_dir():
            return folder
    return None


def skip_reason() -> str | None:
    """Why the tests of a real llama.cpp server are skipped here, or None (they run, and fail where a
    part is missing though ``$HARNESS_REQUIRE_LLAMA_CPP`` is ``1``)."""
    if os.environ.get("HARNESS_REQUIRE_LLAMA_CPP") == "1":
        return None
    return missing()


def missing() -> str | None:
    """Why a real llama.cpp server cannot run here, or None."""
    if importlib.util.find_spec("llama_cpp") is None:
        return 'llama-cpp-python is not installed (pip install "llama-cpp-python[server]"; .ci/run does)'
    if importlib.util.find_spec("uvicorn") is None or importlib.util.find_spec("sse_starlette") is None:
        return 'llama-cpp-python\'s server extra is not installed (pip install "llama-cpp-python[server]")'
    if converter_dir() is None:
        return ("$LLAMA_CPP_SOURCE names no unpacked llama-cpp-python source with llama.cpp's converter "
                "(pip download --no-deps --no-binary :all: llama-cpp-python; .ci/run sets it)")
    return None


def convert(model_dir: Path, out: Path) -> Path:
    """``model_dir`` (a transformers Llama with a byte-level BPE tokenizer) as an f32 GGUF file."""
    assert missing() is None, missing()
    folder = converter_dir()
    assert folder is not None
    done = subprocess.run([sys.executable, "-c", CONVERT, str(folder), str(model_dir), str(out)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and out.is_file(), done.stderr[-3000:]
    return out


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def serve(gguf: Path, n_ctx: int = 512, timeout: float = 120) -> Iterator[str]:
    """llama-cpp-python's server of ``gguf`` on 127.0.0.1 (log-probabilities of every position
    kept: ``--logits_all``); yields its base URL (``http://127.0.0.1:P/v1``), stops it after."""
    port = _free_port()
    command = [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf), "--host", "127.0.0.1",
               "--port", str(port), "--logits_all", "true", "--n_ctx", str(n_ctx), "--n_threads", "1"]
    log = gguf.with_suffix(".server.log")
    with open(log, "w") as sink:
        server = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(f"{url}/models", timeout=2):
                    break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    told = log.read_text()[-3000:]
                    raise AssertionError(f"llama.cpp's server did not start: {told}") from None
                time.sleep(0.5)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
