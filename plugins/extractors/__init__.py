"""Built-in confidence extractors: ``logprob`` (implicit: token probabilities, the default)
and ``verbalized`` (explicit: a stated ``Confidence:``). Both take their prompt and answer
formats from ``formats``, which the trainers and the tiny model share."""

from __future__ import annotations

import harness
from harness.plugins.extractors.logprob import LogprobExtractor
from harness.plugins.extractors.verbalized import VerbalizedExtractor


@harness.hookimpl
def register_extractors(register):  # type: ignore[no-untyped-def]
    register("logprob", LogprobExtractor)
    register("verbalized", VerbalizedExtractor)
