"""Built-in confidence extractors: ``logprob`` (implicit: token probabilities, the default),
``verbalized`` (explicit: a stated ``Confidence:``), and those that add requests to the plain
greedy answer — ``ptrue`` (the probability of "True" when shown its own answer),
``consistency`` (agreement of sampled answers), ``verbalized_followup`` (a confidence stated in a
second turn) — or read more of it: ``entropy`` (of the answer tokens' distributions). All take
their prompt and answer formats from ``formats``, which the trainers and the tiny model share."""

from __future__ import annotations

import harness
from harness.plugins.extractors.consistency import ConsistencyExtractor
from harness.plugins.extractors.entropy import EntropyExtractor
from harness.plugins.extractors.logprob import LogprobExtractor
from harness.plugins.extractors.ptrue import PTrueExtractor
from harness.plugins.extractors.verbalized import VerbalizedExtractor
from harness.plugins.extractors.verbalized_followup import SecondTurnExtractor


@harness.hookimpl
def register_extractors(register):  # type: ignore[no-untyped-def]
    register("logprob", LogprobExtractor)
    register("verbalized", VerbalizedExtractor)
    register("ptrue", PTrueExtractor)
    register("consistency", ConsistencyExtractor)
    register("verbalized_followup", SecondTurnExtractor, deprecated=("verbalized2",))
    register("entropy", EntropyExtractor)
