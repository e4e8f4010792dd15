"""Built-in trainers plugin."""

from __future__ import annotations

import harness


@harness.hookimpl
def register_trainers(register):  # type: ignore[no-untyped-def]
    pass
