"""The ``facts`` task: a synthetic world of made-up entities, generated from a seed.

Every entity has a pronounceable invented name ("Velmora") and one value for each of
three relations (a capital, a flag colour, a founder), drawn from eight values each, so
a blind guess is right one time in eight. A seeded ``seen_fraction`` of the entities is
what the embedded ``tiny`` model saw in pretraining (``Example.metadata["seen"]``): it
knows those facts and can only guess the others. ``Example.group`` is the entity, so a
train/test split never puts questions about one entity on both sides.

The same world seed always gives the same world; the ``tiny`` model is built from
``build_world`` too, so model and task cannot disagree.
"""

from __future__ import annotations

import random

import attrs

from harness.errors import ParameterError
from harness.records import Example

_ONSETS = ("b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z",
           "br", "dr", "kr", "th", "sh")
_VOWELS = ("a", "e", "i", "o", "u", "a", "e", "o", "ei", "ou")
_CODAS = ("", "", "", "n", "r", "l", "s", "m")


@attrs.frozen
class Relation:
    """A question template about an entity and the small set of values it can take."""

    name: str
    template: str
    values: tuple[str, ...]

    def question(self, entity: str) -> str:
        return self.template.format(entity=entity)


RELATIONS: tuple[Relation, ...] = (
    Relation(
        "capital",
        "What is the capital of {entity}?",
        ("Marrow", "Tessin", "Quillon", "Dunmere", "Ashgrove", "Caldera", "Brightwater", "Elmstead"),
    ),
    Relation(
        "colour",
        "What colour is the flag of {entity}?",
        ("red", "blue", "green", "yellow", "black", "white", "purple", "orange"),
    ),
    Relation(
        "founder",
        "Who founded {entity}?",
        ("Aldric", "Brenna", "Cassius", "Dorian", "Elowen", "Fenwick", "Galena", "Hollis"),
    ),
)


@attrs.frozen
class Fact:
    entity: str
    relation: str
    question: str
    answer: str
    seen: bool

    @property
    def id(self) -> str:
        return f"{self.entity}/{self.relation}"


@attrs.frozen
class World:
    """Entities (in generation order), which of them are seen, and every fact."""

    seed: int
    entities: tuple[str, ...]
    seen: frozenset[str]
    facts: tuple[Fact, ...]

    def examples(self) -> list[Example]:
        return [
            Example(
                id=f.id,
                question=f.question,
                answer=f.answer,
                metadata={"entity": f.entity, "relation": f.relation, "seen": f.seen,
                          "world_seed": self.seed},
                group=f.entity,
                subgroup="seen entity" if f.seen else "unseen entity",
            )
            for f in self.facts
        ]


def entity_names(n: int, seed: int) -> list[str]:
    """``n`` distinct pronounceable names of 2-3 syllables; a prefix of a longer list."""
    rng = random.Random(f"facts-names-{seed}")
    reserved = {v.lower() for r in RELATIONS for v in r.values}
    names: list[str] = []
    taken: set[str] = set()
    while len(names) < n:
        syllables = rng.choice((2, 2, 3))
        name = "".join(
            rng.choice(_ONSETS) + rng.choice(_VOWELS) + (rng.choice(_CODAS) if i == syllables - 1 else "")
            for i in range(syllables)
        ).capitalize()
        if name.lower() in taken or name.lower() in reserved:
            continue
        taken.add(name.lower())
        names.append(name)
    return names


def build_world(world_seed: int = 0, n_entities: int = 300, seen_fraction: float = 0.6) -> World:
    """The world of ``world_seed``: names, one value per relation, the seen entities."""
    _check(world_seed, n_entities, seen_fraction)
    names = entity_names(n_entities, world_seed)
    values_rng = random.Random(f"facts-values-{world_seed}")
    answers = {(e, r.name): values_rng.choice(r.values) for e in names for r in RELATIONS}
    seen_rng = random.Random(f"facts-seen-{world_seed}")
    seen = frozenset(seen_rng.sample(names, round(n_entities * seen_fraction)))
    facts = tuple(
        Fact(entity=e, relation=r.name, question=r.question(e), answer=answers[e, r.name], seen=e in seen)
        for e in names
        for r in RELATIONS
    )
    return World(seed=world_seed, entities=tuple(names), seen=seen, facts=facts)


def _check(world_seed: int, n_entities: int, seen_fraction: float) -> None:
    if isinstance(world_seed, bool) or not isinstance(world_seed, int):
        raise ParameterError(f"task facts: world_seed must be an integer, got {world_seed!r}")
    if isinstance(n_entities, bool) or not isinstance(n_entities, int) or not 1 <= n_entities <= 100_000:
        raise ParameterError(f"task facts: n_entities must be an integer in [1, 100000], got {n_entities!r}")
    if isinstance(seen_fraction, bool) or not isinstance(seen_fraction, (int, float)) \
            or not 0.0 <= seen_fraction <= 1.0:
        raise ParameterError(f"task facts: seen_fraction must be in [0, 1], got {seen_fraction!r}")


class FactsTask:
    """The ``facts`` task: every question of the world of ``world_seed``."""

    def __init__(self, world_seed: int = 0, n_entities: int = 300, seen_fraction: float = 0.6) -> None:
        _check(world_seed, n_entities, seen_fraction)
        self.world_seed = world_seed
        self.n_entities = n_entities
        self.seen_fraction = seen_fraction

    def world(self) -> World:
        return build_world(self.world_seed, self.n_entities, self.seen_fraction)

    def examples(self) -> list[Example]:
        return self.world().examples()
