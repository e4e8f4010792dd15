"""The suite's own scheduling (``tests/conftest.py``): under pytest-xdist each worker starts
with one of the ``start_first`` tests, checked against the installed xdist's schedulers."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from conftest import start_first


def items(names: str, first: str = "", slow: str = "") -> list[SimpleNamespace]:
    marks = {**{n: {"slow"} for n in slow}, **{n: {"start_first"} for n in first}}
    return [SimpleNamespace(name=n, keywords=marks.get(n, set())) for n in names]


def names(ordered: list) -> str:  # type: ignore[type-arg]
    return "".join(item.name for item in ordered)


class Worker:
    """What xdist's scheduler sends to a worker, kept in order."""

    def __init__(self, name: str) -> None:
        self.name, self.sent, self.shutting_down = name, [], False
        self.gateway = SimpleNamespace(id=name)

    def send_runtest_some(self, indices: list[int]) -> None:
        self.sent += indices

    def shutdown(self) -> None:
        pass


def first_tests_sent(collection: list[str], workers: int, dist: str) -> list[str]:
    """The first test xdist's scheduler for ``dist`` hands each of ``workers`` workers."""
    from xdist.scheduler import LoadScheduling, WorkStealingScheduling

    option = SimpleNamespace(tx=["popen"] * workers, numprocesses=workers, maxschedchunk=None, dist=dist)
    config = SimpleNamespace(option=option, getoption=lambda name: getattr(option, name),
                             getvalue=lambda name: getattr(option, name))
    scheduler = {"load": LoadScheduling, "worksteal": WorkStealingScheduling}[dist](config)  # type: ignore[arg-type]
    nodes = [Worker(f"gw{i}") for i in range(workers)]
    for node in nodes:
        scheduler.add_node(node)  # type: ignore[arg-type]
    for node in nodes:
        scheduler.add_node_collection(node, collection)  # type: ignore[arg-type]
    scheduler.schedule()
    return [collection[node.sent[0]] for node in nodes]


@pytest.mark.parametrize("dist", ["worksteal", "load"])
@pytest.mark.parametrize("workers", [2, 3, 4])
def test_each_worker_starts_with_a_start_first_test(workers, dist):
    suite = items("abcdefghijklmnopqrstuvwxyz" * 8, first="")
    suite += items("XY", first="XY")
    ordered = start_first(suite, workers, dist)  # type: ignore[arg-type]
    assert sorted(names(ordered)) == sorted(names(suite))  # the same tests
    heads = first_tests_sent([f"{i}:{item.name}" for i, item in enumerate(ordered)], workers, dist)
    assert [h.split(":")[1] for h in heads[:2]] == ["X", "Y"]


def test_more_start_first_tests_than_workers_are_dealt_round_robin():
    suite = items("abcdefghijklmnop", slow="gh") + items("XYZ", first="XYZ")
    ordered = names(start_first(suite, 2, "worksteal"))  # type: ignore[arg-type]
    assert ordered[:9] == "XZabcdefg" and ordered[9:] == "Yhijklmnop"  # halves of 19: 9 and 10


def test_without_start_first_tests_or_with_few_tests_the_order_stays():
    assert names(start_first(items("abcdef"), 2, "worksteal")) == "abcdef"  # type: ignore[arg-type]
    assert names(start_first(items("abX", first="X"), 2, "worksteal")) == "abX"  # type: ignore[arg-type]
