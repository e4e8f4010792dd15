"""The ``consistency`` extractor: sample ``k`` answers to the plain prompt at a temperature and
take the share that agree with the greedy answer — the black-box baseline of most calibration
studies, and one that needs no log-probabilities (it works through any API that samples).

Agreement (``match``) is ``normalized``: equal after lower-casing and removing punctuation,
articles and extra spaces (SQuAD's normalisation); ``exact``: equal after stripping spaces;
``judge``: equal after normalisation, or else graded equivalent by the run's judge — each
sample that differs in text is graded as an answer to the question with the greedy answer as
the gold one, through the judge runner and its cache (so a repeated sample text is not asked
again, and a rerun asks nothing). Only ``judge`` judges samples. The ``k`` samples of all
examples go to the backend as one request each (``n = k``, seeded), which the ``hf`` backend
serves in one batched ``generate`` per batch.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from harness.errors import ParameterError
from harness.plugins.extractors.answers import PlainAnswer, normalized
from harness.records import Example, Generation, Judgment, Prediction, Scores
from harness.strategies import GenerationRequest

SAMPLES = "samples"
MATCHES = ("normalized", "exact", "judge")


class ConsistencyExtractor(PlainAnswer):
    """The plain greedy answer; confidence = share of ``k`` samples that agree with it."""

    name = "consistency"
    requires = frozenset({"samples"})

    def __init__(self, k: int = 10, temperature: float = 1.0, match: str = "normalized",
                 seed: int = 0) -> None:
        if isinstance(k, bool) or not isinstance(k, int) or k < 2:
            raise ParameterError(f"extractor 'consistency': k must be an integer of at least 2, not {k!r}")
        if isinstance(temperature, bool) or not isinstance(temperature, int | float) or temperature <= 0:
            raise ParameterError(f"extractor 'consistency': temperature must be above 0, not {temperature!r}")
        if match not in MATCHES:
            raise ParameterError(f"extractor 'consistency': match must be one of {', '.join(MATCHES)}, "
                                 f"not {match!r}")
        self.k, self.temperature, self.match, self.seed = k, float(temperature), match, int(seed)

    def _key(self, answer: str) -> str:
        return normalized(answer) if self.match == "normalized" else answer.split("\n", 1)[0].strip()

    def follow_ups(self, example: Example, generation: Generation) -> dict[str, GenerationRequest]:
        return {SAMPLES: GenerationRequest(example_id=example.id, prompt=self.prompt(example), stop=self.stop,
                                           n=self.k, temperature=self.temperature, seed=self.seed)}

    def _differing(self, generation: Generation, sampled: Any) -> list[tuple[int, str]]:
        """The samples whose text does not match the greedy answer's (index, text)."""
        target = normalized(self.answer(generation))
        return [(i, s) for i, s in enumerate(getattr(sampled, "samples", [])) if normalized(s) != target]

    def to_judge(self, example: Example, generation: Generation,
                 responses: Mapping[str, Generation | Scores]) -> dict[str, tuple[Example, Prediction]]:
        """With ``match = "judge"``: each sample that differs in text, as an answer to the question
        whose gold answer is the greedy one (graded correct = the same answer)."""
        answer = self.answer(generation)
        if self.match != "judge" or not answer:
            return {}
        gold = Example(id=example.id, question=example.question, answer=answer)
        return {f"sample{i}": (gold, Prediction(example_id=example.id, answer=text.split("\n", 1)[0].strip(),
                                                confidence=None, extractor=self.name))
                for i, text in self._differing(generation, responses.get(SAMPLES))}

    def extract(self, generation: Generation, responses: Mapping[str, Generation | Scores | Judgment]
                ) -> Prediction:
        answer = self.answer(generation)
        if not answer:
            return self.missing(generation, "empty answer")
        sampled = responses.get(SAMPLES)
        if not isinstance(sampled, Generation):
            return self.missing(generation, "no samples were drawn")
        if sampled.error:
            return self.missing(generation, f"sampling failed: {sampled.error}")
        if len(sampled.samples) != self.k:
            return self.missing(generation, f"{len(sampled.samples)} samples instead of {self.k}")
        if self.match != "judge":
            target = self._key(answer)
            return self.predicted(generation, sum(self._key(s) == target for s in sampled.samples) / self.k)
        verdicts = [responses.get(f"sample{i}") for i, _ in self._differing(generation, sampled)]
        if any(not isinstance(v, Judgment) or v.grade is None for v in verdicts):
            return self.missing(generation, "a sample could not be judged against the answer")
        agree = self.k - len(verdicts) + sum(v.grade == "correct" for v in verdicts)  # type: ignore[union-attr]
        return self.predicted(generation, agree / self.k)
