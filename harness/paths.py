"""Where the harness keeps files outside a run folder (the user cache folder)."""

from __future__ import annotations

import os
from pathlib import Path

from harness.errors import StorageError


def cache_dir() -> Path:
    """``$HARNESS_CACHE_DIR``, else ``$XDG_CACHE_HOME/calibration-harness``, else ``~/.cache/...``."""
    explicit = os.environ.get("HARNESS_CACHE_DIR")
    if explicit:
        path = Path(explicit)
    else:
        base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        path = Path(base) / "calibration-harness"
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StorageError.from_os(exc, path, "cannot create the cache folder") from None
    return path
