"""Built-in backends plugin."""

from __future__ import annotations

import harness


@harness.hookimpl
def register_backends(register):  # type: ignore[no-untyped-def]
    pass
