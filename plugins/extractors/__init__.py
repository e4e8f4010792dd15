"""Built-in extractors plugin."""

from __future__ import annotations

import harness


@harness.hookimpl
def register_extractors(register):  # type: ignore[no-untyped-def]
    pass
