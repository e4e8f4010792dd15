"""Built-in judges plugin."""

from __future__ import annotations

import harness


@harness.hookimpl
def register_judges(register):  # type: ignore[no-untyped-def]
    pass
