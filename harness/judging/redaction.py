"""Redaction: no credential reaches a judgments file, a cache or a log line.

Every error message and raw reply the runner writes passes through ``redact``, which
removes the value of every environment variable named like a credential (``*KEY*``,
``*TOKEN*``, ``*SECRET*``, ...) and any string shaped like an OpenAI or Google API key.
"""

from __future__ import annotations

import os
import re

_SECRET_NAME = re.compile(r"KEY|TOKEN|SECRET|PASSWORD|CREDENTIAL", re.IGNORECASE)
_SECRET_SHAPES = re.compile(r"\b(?:sk-[A-Za-z0-9_\-*]{8,}|AIza[0-9A-Za-z_\-]{20,})")


def redact(text: str) -> str:
    """``text`` without any credential-looking environment value or API-key-shaped string."""
    for name, value in os.environ.items():
        if len(value) >= 8 and _SECRET_NAME.search(name) and value in text:
            text = text.replace(value, "[redacted]")
    return _SECRET_SHAPES.sub("[redacted]", text)
