"""Typed errors of the harness.

Every error a *user* can cause (a bad name, a bad parameter, a malformed file) is a
``HarnessError``: the command line prints its message as one line on stderr and exits
with status 2. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class HarnessError(Exception):
    """A user error: one clear line, exit status 2."""

    exit_code = 2


class UnknownStrategyError(HarnessError, KeyError):
    """A strategy name that no plugin registered."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class ParameterError(HarnessError):
    """A parameter that a strategy does not accept, or a malformed override."""


class PluginLoadError(HarnessError):
    """A strategy whose plugin failed to import is being used."""


class PluginContractError(HarnessError):
    """A strategy returned what its contract forbids (e.g. a calibrated confidence outside
    [0, 1]); the message names the strategy."""


class InputError(HarnessError):
    """A malformed input file: missing, not JSON, a field of the wrong type."""


class StorageError(HarnessError, OSError):
    """Reading or writing a file of the run folder or the cache failed (a full disk, no
    permission, a file where a folder should be): one line naming the path and the reason.
    Still an ``OSError``, so code that catches those keeps working."""

    @classmethod
    def from_os(cls, exc: OSError, path: object, action: str = "cannot write") -> StorageError:
        error = cls(f"{path}: {action}: {exc.strerror or exc}")
        error.errno, error.strerror, error.filename = exc.errno, exc.strerror, str(path)
        return error

    def __str__(self) -> str:  # OSError would prefix [Errno n]
        return str(self.args[0]) if self.args else ""


class RecordError(InputError, KeyError):
    """A record (``Example``, ``Generation``, ...) read from a dict that lacks a field."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class InsufficientDataError(HarnessError, ValueError):
    """A metric asked for more examples than it was given (e.g. HLE's beta)."""
