"""What the core checks at its boundary with a strategy: each failure one line naming it.

A task must give ``Example`` records with unique ids, a backend one ``Generation`` per
request, every built object the members of its kind (``harness.machinery.kinds``).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from plugin_helpers import installed

import harness
from harness.errors import PluginContractError
from harness.machinery import contract, registry
from harness.machinery.config import Config
from harness.records import Example, Generation
from harness.running import stages

EXAMPLES = [Example(id="q1", question="2+2?", answer="4"), Example(id="q2", question="3+3?", answer="6")]


class Prompting:
    name = "prompting"
    stop = ("\n",)

    def prompt(self, example: Example) -> str:
        return example.question

    def extract(self, generation):  # type: ignore[no-untyped-def]
        raise AssertionError("not called here")


class Backend:
    """Yields what it is told to, whatever was asked."""

    model_path = "nowhere"

    def __init__(self, items: list) -> None:
        self.items = items

    def generate(self, requests, progress=True):  # type: ignore[no-untyped-def]
        yield from self.items


def test_a_task_must_give_examples():
    with pytest.raises(PluginContractError, match=r"^task 'dicts' \(dist\): examples\(\) item 0 is dict"):
        contract.check_examples([{"id": "q1"}], "task 'dicts' (dist)")
    with pytest.raises(PluginContractError, match="examples\\(\\) returned str, not a list"):
        contract.check_examples("q1,q2", "task 'text' (dist)")


def test_a_task_s_ids_must_be_unique():
    with pytest.raises(PluginContractError, match="examples\\(\\) has the id 'q1' twice"):
        contract.check_examples([EXAMPLES[0], EXAMPLES[0]], "task 'twice' (dist)")
    assert contract.check_examples(iter(EXAMPLES), "task 'fine' (dist)") == EXAMPLES  # any iterable


def _generate(tmp_path: Path, backend: Backend) -> dict:
    return stages.generate(tmp_path / "generations.jsonl", backend, Prompting(), EXAMPLES, progress=False)


def test_a_backend_must_yield_generations(tmp_path: Path):
    with pytest.raises(PluginContractError, match=r"generate\(\) yielded tuple, not a harness.records.Gen"):
        _generate(tmp_path, Backend([("q1", "4")]))


def test_a_backend_must_answer_each_request_once_and_only_those(tmp_path: Path):
    q1 = Generation(example_id="q1", prompt="2+2?", text="4")
    stranger = Generation(example_id="q9", prompt="?", text="?")
    with pytest.raises(PluginContractError, match="a Generation for 'q9', which was not requested"):
        _generate(tmp_path / "a", Backend([stranger]))
    with pytest.raises(PluginContractError, match="for 'q1', which was not requested .or was already given"):
        _generate(tmp_path / "b", Backend([q1, q1]))
    with pytest.raises(PluginContractError, match=r"gave no Generation for 1 of 2 requests \(e.g. 'q2'\)"):
        _generate(tmp_path / "c", Backend([q1]))
    # what it did give is kept: the rerun asks only for the rest
    again = _generate(tmp_path / "c", Backend([Generation(example_id="q2", prompt="3+3?", text="6")]))
    assert sorted(again) == ["q1", "q2"]


class Careless:
    @harness.hookimpl
    def register_judges(self, register):  # type: ignore[no-untyped-def]
        register("gradeless", lambda: object())

    @harness.hookimpl
    def register_tasks(self, register):  # type: ignore[no-untyped-def]
        register("listless", lambda: ["q1"])

    @harness.hookimpl
    def register_calibrators(self, register):  # type: ignore[no-untyped-def]
        register("unfittable", lambda: Prompting())


@pytest.mark.parametrize(("kind", "name", "missing"), [
    ("task", "listless", "examples"),
    ("calibrator", "unfittable", "fit, __call__, fitted"),
])
def test_create_checks_the_built_object_against_its_kind(kind: str, name: str, missing: str):
    with installed(Careless(), "careless", distribution="careless-dist"):
        with pytest.raises(PluginContractError) as info:
            registry.create(kind, name, Config())
    assert str(info.value).startswith(f"{kind} {name!r} (careless-dist): its factory built a ")
    assert f"without {missing} (a" in str(info.value)


def test_a_judge_without_grade_is_caught_when_it_is_built():
    with installed(Careless(), "careless", distribution="careless-dist"):
        with pytest.raises(PluginContractError, match=r"^judge 'gradeless' \(careless-dist\): .*grade"):
            registry.create_judge("gradeless", Config())
