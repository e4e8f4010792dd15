"""A hook that registers nothing (it forgot to call `register`)."""

from __future__ import annotations

import harness


def forgotten(confidence, correct):  # type: ignore[no-untyped-def]
    return 0.0


@harness.hookimpl
def register_metrics(register):  # type: ignore[no-untyped-def]
    return [("forgotten", forgotten)]  # returned, never registered
