"""What the plugin and packaging tests share: registering a plugin for a ``with`` block, and
running pip in a subprocess."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator

from harness import plugin_manager


@contextlib.contextmanager
def installed(plugin: object, name: str, distribution: str = "test-dist") -> Iterator[None]:
    """Register ``plugin`` for the duration of a ``with`` block."""
    plugin_manager.register_plugin(plugin, name=name, distribution=distribution)
    try:
        yield
    finally:
        plugin_manager.unregister_plugin(name, distribution=distribution)


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
