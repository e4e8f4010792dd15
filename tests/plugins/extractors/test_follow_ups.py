"""The follow-up stage of a multi-request extractor, and several extractors in one run: requests
batched across examples and resumed from ``follow_ups.jsonl``, careless extractors and backends
named in one line, a backend lacking what an extractor needs refused before any work, and
extractors that prompt alike sharing one greedy answer, judged once."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from harness import hookimpl
from harness.errors import ParameterError, PluginContractError
from harness.plugins.extractors.consistency import ConsistencyExtractor
from harness.plugins.extractors.ptrue import PTrueExtractor
from harness.records import Example, Generation, Scores
from harness.running import stages
from harness.running.experiment import ExperimentSpec, check_capabilities, run_experiment
from harness.strategies import GenerationRequest, ScoreRequest
from harness.testing import registered

EXAMPLES = [Example(id=f"q{i}", question=f"What is the colour of item {i}?", answer="red") for i in range(4)]


class EchoBackend:
    """Answers " red" to every prompt, samples " red"/" blue" alternately, scores A at 0.8; counts calls."""

    name = "echo"
    model_path = "echo"
    capabilities = frozenset({"logprobs", "samples", "scores"})

    def __init__(self) -> None:
        self.calls: list[tuple[str, int]] = []

    def generate(self, requests: Sequence[GenerationRequest], *,
                 progress: bool = True) -> Iterator[Generation]:
        self.calls.append(("generate", len(requests)))
        for r in requests:
            samples = [(" red", " blue")[i % 2] for i in range(r.n)] if r.n > 1 else []
            yield Generation(example_id=r.example_id, prompt=r.prompt, text=" red", tokens=[" red"],
                             logprobs=[-0.1], samples=samples)

    def score(self, requests: Sequence[ScoreRequest], *, progress: bool = True) -> Iterator[Scores]:
        self.calls.append(("score", len(requests)))
        for r in requests:
            yield Scores(example_id=r.example_id, prompt=r.prompt, continuations=list(r.continuations),
                         logprobs=[-0.2231435513, -1.609437912][: len(r.continuations)])


def test_follow_ups_are_batched_across_examples_and_resumed(tmp_path: Path) -> None:
    backend, extractor = EchoBackend(), ConsistencyExtractor(k=4)
    generations = stages.generate(tmp_path / "g.jsonl", backend, extractor, EXAMPLES, progress=False)
    responses = stages.follow_up(tmp_path / "f.jsonl", backend, extractor, EXAMPLES, generations,
                                 progress=False)
    assert backend.calls == [("generate", 4), ("generate", 4)]  # greedy, then every example's samples at once
    assert responses["q0"]["samples"].samples == [" red", " blue", " red", " blue"]
    assert stages.extract(None, extractor, EXAMPLES, generations, responses)["q0"].confidence == 0.5
    lines = (tmp_path / "f.jsonl").read_text().splitlines()
    assert [json.loads(line)["key"] for line in lines] == ["samples"] * 4
    # a rerun asks the backend for nothing, and reads the same answers back
    again = stages.follow_up(tmp_path / "f.jsonl", backend, extractor, EXAMPLES, generations, progress=False)
    assert backend.calls == [("generate", 4), ("generate", 4)] and again == responses


def test_a_failed_greedy_generation_asks_for_no_follow_up(tmp_path: Path) -> None:
    backend = EchoBackend()
    generations = {e.id: Generation(example_id=e.id, prompt="p", text="", error="HTTP 500") for e in EXAMPLES}
    assert stages.follow_up(tmp_path / "f.jsonl", backend, PTrueExtractor(), EXAMPLES, generations) == {}
    assert backend.calls == []


class Careless(PTrueExtractor):
    def __init__(self, asked: Any) -> None:
        super().__init__()
        self.asked = asked

    def follow_ups(self, example: Example, generation: Generation) -> Any:
        return self.asked


@pytest.mark.parametrize(("asked", "message"), [
    ([("q", None)], "follow_ups\\(\\) returned list, not a mapping"),
    ({"k": "a prompt"}, "follow_ups\\(\\)\\['k'\\] is str, not a GenerationRequest or ScoreRequest"),
])
def test_a_careless_extractor_is_named_in_one_line(tmp_path: Path, asked: Any, message: str) -> None:
    generations = stages.generate(tmp_path / "g.jsonl", EchoBackend(), PTrueExtractor(), EXAMPLES,
                                  progress=False)
    with pytest.raises(PluginContractError, match=message):
        stages.follow_up(tmp_path / "f.jsonl", EchoBackend(), Careless(asked), EXAMPLES, generations)


def test_a_backend_that_scores_too_few_continuations_is_named(tmp_path: Path) -> None:
    class Short(EchoBackend):
        def score(self, requests: Sequence[ScoreRequest], *, progress: bool = True) -> Iterator[Scores]:
            for r in requests:
                yield Scores(example_id=r.example_id, prompt=r.prompt, continuations=list(r.continuations),
                             logprobs=[-0.1])

    backend = Short()
    generations = stages.generate(tmp_path / "g.jsonl", backend, PTrueExtractor(), EXAMPLES, progress=False)
    with pytest.raises(PluginContractError, match="score\\(\\) gave 1 values for 2 continuations"):
        stages.follow_up(tmp_path / "f.jsonl", backend, PTrueExtractor(), EXAMPLES, generations)


def test_an_extractor_needing_what_the_backend_lacks_is_refused_in_one_line() -> None:
    class Plain:
        capabilities = frozenset({"logprobs"})

    message = ("extractor 'ptrue' needs scores of given continuations \\(scores\\), "
               "which backend 'plain' as configured does not give")
    with pytest.raises(ParameterError, match=message):
        check_capabilities("ptrue", PTrueExtractor(), "plain", Plain())
    check_capabilities("ptrue", PTrueExtractor(), "silent", object())  # declares nothing: not checked


class EchoPlugin:
    @hookimpl
    def register_backends(self, register):  # type: ignore[no-untyped-def]
        register("echo", lambda model, adapter=None: EchoBackend())


def test_extractors_that_prompt_alike_share_one_answer_judged_once(tmp_path: Path) -> None:
    qa = tmp_path / "qa.jsonl"
    qa.write_text("".join(json.dumps({"id": e.id, "question": e.question, "answer": e.answer}) + "\n"
                          for e in EXAMPLES))
    with registered(EchoPlugin(), "echo-plugin"):
        report = run_experiment(ExperimentSpec(
            task="jsonl", model="echo", backend="echo", extractor="logprob",
            extra_extractors=("ptrue", "consistency"),
            out=tmp_path / "run", progress=False, calibrators=(), overrides=(f"task.path={qa}",)))
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    requests = {stage: summary["requests"] for stage, summary in manifest["judging"]["stages"].items()}
    assert requests == {"baseline/logprob/all": 4, "baseline/ptrue/all": 0, "baseline/consistency/all": 0}
    comps = {c["extractor"]: c for c in report["extractor_comparisons"]}
    assert set(comps) == {"ptrue", "consistency"}
    assert comps["ptrue"]["reference"] == "logprob" and comps["ptrue"]["answers_from"] == "baseline/logprob"
    assert comps["ptrue"]["paired_n"] == 4
    assert set(comps["ptrue"]["changes"]) == {"auroc", "brier", "rms_calib_err"}
    brier = comps["consistency"]["changes"]["brier"]  # every answer right: (1-0.5)^2 against (1-e^-0.1)^2
    assert brier["b"] == pytest.approx(0.25) and brier["a"] == pytest.approx((1 - 0.904837) ** 2, abs=1e-5)
    text = (tmp_path / "run" / "report.md").read_text()
    assert "## Confidence extractors compared" in text and "shared with `baseline/logprob`" in text


def test_consistency_judged_by_the_run_s_judge_grades_differing_samples_once(tmp_path: Path) -> None:
    """``-p extractor.consistency.match=judge``: the samples that differ from the greedy answer go
    to the run's judge in one call through the runner (the mock judge: " blue" is not " red")."""
    qa = tmp_path / "qa.jsonl"
    qa.write_text("".join(json.dumps({"id": e.id, "question": e.question, "answer": e.answer}) + "\n"
                          for e in EXAMPLES))
    with registered(EchoPlugin(), "echo-plugin"):
        report = run_experiment(ExperimentSpec(
            task="jsonl", model="echo", backend="echo", extractor="consistency", out=tmp_path / "run",
            progress=False, calibrators=(),
            overrides=(f"task.path={qa}", "extractor.consistency.match=judge", "extractor.consistency.k=4")))
    (row,) = report["rows"]
    assert row["metrics"]["mean_confidence"]["value"] == pytest.approx(0.5)  # 2 of 4 samples are " red"
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    judged = manifest["judging"]["stages"]["baseline/consistency/all/follow-ups"]
    assert (judged["calls"], judged["items"]) == (1, 8)  # the " blue" of each of 4 examples, twice


class ScopedTrainer:
    """Claims an adapter that serves follow-up requests only, for an extractor that asks none."""

    name = "scoped"
    extractor = "logprob"

    def train(self, model, records, out_dir, extractor):  # type: ignore[no-untyped-def]
        from harness.records import ModelRef

        return ModelRef(base=model.base, adapter=None, scope="follow_ups")


class ScopedPlugin(EchoPlugin):
    @hookimpl
    def register_trainers(self, register):  # type: ignore[no-untyped-def]
        register("scoped", ScopedTrainer)


def test_a_follow_ups_scope_for_an_extractor_that_asks_none_is_one_line(tmp_path: Path) -> None:
    from harness.errors import HarnessError

    qa = tmp_path / "qa.jsonl"
    qa.write_text("".join(json.dumps({"id": f"q{i}", "question": f"Q{i}?", "answer": "red"}) + "\n"
                          for i in range(8)))
    with registered(ScopedPlugin(), "scoped-plugin"), pytest.raises(
            HarnessError, match="trainer 'scoped': its adapter serves follow-up requests only, but extractor "
                                "'logprob' asks none"):
        run_experiment(ExperimentSpec(task="jsonl", model="echo", backend="echo", trainers=("scoped",),
                                      out=tmp_path / "run", progress=False, calibrators=(),
                                      overrides=(f"task.path={qa}",)))
