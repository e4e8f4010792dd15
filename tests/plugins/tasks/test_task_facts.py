"""The ``facts`` task: a synthetic world that one seed fully determines."""

from __future__ import annotations

import re
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.errors import ParameterError
from harness.machinery import registry
from harness.tasks.facts import RELATIONS, FactsTask, build_world


def test_the_default_world_has_300_entities_three_questions_each_and_60_percent_seen() -> None:
    examples = FactsTask().examples()
    assert len(examples) == 900
    groups = Counter(e.group for e in examples)
    assert len(groups) == 300 and set(groups.values()) == {3}
    seen_entities = {e.group for e in examples if e.metadata["seen"]}
    assert len(seen_entities) == 180


def test_a_question_names_its_entity_and_has_one_short_gold_answer() -> None:
    example = FactsTask(n_entities=5).examples()[0]
    entity = example.metadata["entity"]
    assert example.group == entity
    assert entity in example.question
    assert example.id == f"{entity}/{example.metadata['relation']}"
    relation = next(r for r in RELATIONS if r.name == example.metadata["relation"])
    assert example.answer in relation.values
    assert example.question == relation.question(entity)


def test_entity_names_are_made_up_pronounceable_words_without_duplicates() -> None:
    names = build_world(n_entities=2000).entities
    assert len(set(names)) == 2000
    assert all(re.fullmatch(r"[A-Z][a-z]{2,14}", n) for n in names)
    reserved = {v for r in RELATIONS for v in r.values}
    assert not reserved & set(names)


def test_the_same_seed_gives_the_same_world_and_another_seed_another() -> None:
    first = [e.to_dict() for e in FactsTask(world_seed=7).examples()]
    again = [e.to_dict() for e in FactsTask(world_seed=7).examples()]
    other = [e.to_dict() for e in FactsTask(world_seed=8).examples()]
    assert first == again
    assert first != other


def test_a_smaller_world_is_a_prefix_of_a_larger_one() -> None:
    small, large = build_world(3, n_entities=50), build_world(3, n_entities=300)
    assert small.entities == large.entities[:50]
    assert small.facts[0].answer == large.facts[0].answer


def test_answers_are_spread_over_the_values_so_a_blind_guess_is_right_one_time_in_eight() -> None:
    examples = FactsTask().examples()
    for relation in RELATIONS:
        counts = Counter(e.answer for e in examples if e.metadata["relation"] == relation.name)
        assert set(counts) == set(relation.values)
        assert max(counts.values()) < 3 * min(counts.values())


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(1, 60), fraction=st.floats(0.0, 1.0))
def test_any_world_keeps_each_entity_wholly_seen_or_unseen(seed: int, n: int, fraction: float) -> None:
    examples = FactsTask(world_seed=seed, n_entities=n, seen_fraction=fraction).examples()
    seen_of: dict[str, set[bool]] = {}
    for e in examples:
        seen_of.setdefault(e.group, set()).add(e.metadata["seen"])
    assert all(len(v) == 1 for v in seen_of.values())
    assert sum(v == {True} for v in seen_of.values()) == round(n * fraction)
    assert len({e.id for e in examples}) == len(examples) == 3 * n


@pytest.mark.parametrize(
    "params",
    [{"n_entities": 0}, {"seen_fraction": 1.5}, {"world_seed": "three"}, {"n_entities": 2.5}],
)
def test_bad_world_parameters_are_a_parameter_error(params: dict) -> None:
    with pytest.raises(ParameterError, match="task facts"):
        FactsTask(**params)


def test_facts_is_registered_with_its_world_parameters_as_defaults() -> None:
    task = registry.create("task", "facts")
    assert (task.world_seed, task.n_entities, task.seen_fraction) == (0, 300, 0.6)
    assert set(registry.names("task")) >= {"facts", "simpleqa", "jsonl"}


def test_the_subgroup_says_whether_the_model_saw_the_entity() -> None:
    examples = FactsTask().examples()
    assert {e.subgroup for e in examples} == {"seen entity", "unseen entity"}
    assert all((e.subgroup == "seen entity") == e.metadata["seen"] for e in examples)
