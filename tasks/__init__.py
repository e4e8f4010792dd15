"""Built-in tasks plugin: ``facts`` (synthetic, offline), ``simpleqa`` (CSV) and ``jsonl``.

Only the task classes are imported here; they need nothing heavier than the standard
library and ``attrs``.
"""

from __future__ import annotations

import harness
from harness.machinery.hookspecs import Register
from harness.tasks.facts import FactsTask
from harness.tasks.jsonl_task import JsonlTask
from harness.tasks.simpleqa import SimpleQATask


@harness.hookimpl
def register_tasks(register: Register) -> None:
    register("facts", FactsTask)
    register("simpleqa", SimpleQATask)
    register("jsonl", JsonlTask)
