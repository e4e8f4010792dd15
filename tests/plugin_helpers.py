"""What the plugin and packaging tests share: registering a plugin for a ``with`` block, and
running pip in a subprocess."""

from __future__ import annotations

import subprocess
import sys

from harness.testing import registered as installed  # a plugin object, for a `with` block

__all__ = ["installed", "pip"]


def pip(command: str, *args: str) -> subprocess.CompletedProcess[str]:
    """``python -m pip COMMAND`` quietly, without dependencies or prompts; a failure fails the test."""
    return subprocess.run(
        [
            sys.executable, "-m", "pip", command,
            "--no-deps", "--no-input", "--disable-pip-version-check", "--quiet", *args,
        ],
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
    )
