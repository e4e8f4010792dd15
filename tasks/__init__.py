"""Built-in tasks plugin."""

from __future__ import annotations

import harness


@harness.hookimpl
def register_tasks(register):  # type: ignore[no-untyped-def]
    pass
