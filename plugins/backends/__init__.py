"""Built-in generation backends: ``hf`` (transformers, in-process, the default), ``vllm``
(optional extra) and ``openai`` (any OpenAI-compatible server).

Each module imports its engine (torch, vllm, openai) only when a backend is built or
used, so registering them here costs nothing.
"""

from __future__ import annotations

import harness
from harness.plugins.backends.hf import HFBackend
from harness.plugins.backends.openai_backend import OpenAIBackend
from harness.plugins.backends.vllm_backend import VLLMBackend


@harness.hookimpl
def register_backends(register):  # type: ignore[no-untyped-def]
    register("hf", HFBackend)
    register("vllm", VLLMBackend)
    register("openai", OpenAIBackend)
