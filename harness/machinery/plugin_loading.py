"""Loading plugins: built-in and third-party alike, through the ``harness`` entry points.

Stateless: ``load()`` loads every entry point into a fresh plugin manager and returns what
happened (``Loaded``); the one registry object (``harness.machinery.registry``) keeps it. Each entry
point is loaded on its own, so that a plugin that fails to import or implements a
misspelled hook (pluggy's ``check_pending()``, per plugin) is recorded as broken instead of
breaking the harness, and two distributions that use the same entry-point name both load.

Two selections, each a comma-separated list of names; a name is an entry-point name
(``fake``), a distribution name (``harness-fake-plugin``: all its entry points) or both
(``harness-fake-plugin:fake``):

- ``HARNESS_DISABLE_PLUGINS``: skip these entry points, before their module is imported;
- ``HARNESS_PLUGINS`` (what ``harness --plugins`` sets): load only these third-party plugins.
  The built-in strategies always load (disable one of them by name if you must).
"""

from __future__ import annotations

import importlib.metadata as metadata
import os
import re
import traceback
from collections.abc import Sequence

import attrs
import pluggy

from harness.errors import PluginLoadError
from harness.machinery import hookspecs
from harness.machinery.kinds import HOOKS

GROUP = "harness"
OWN_DISTRIBUTION = "calibration-harness"
DISABLE_ENV = "HARNESS_DISABLE_PLUGINS"
PLUGINS_ENV = "HARNESS_PLUGINS"  # load only these third-party plugins (set by --plugins)

NOT_INSTALLED = ("calibration-harness is not installed, so its built-in strategies (its entry points) "
                 "are missing: run `pip install -e .` in the source tree")


@attrs.frozen
class LoadedPlugin:
    name: str
    module: str
    distribution: str
    key: str = ""  # "distribution:name", the plugin manager's name for it


@attrs.frozen
class DisabledPlugin:
    """An entry point skipped at load: ``HARNESS_DISABLE_PLUGINS`` names it, or ``--plugins``
    (``HARNESS_PLUGINS``) was given without it."""

    name: str
    module: str
    distribution: str
    reason: str = DISABLE_ENV


@attrs.frozen
class BrokenPlugin:
    name: str
    module: str
    distribution: str
    error: str


def normalize(distribution: str) -> str:
    """A distribution name as PEP 503 compares them: ``Harness_Fake.plugin`` -> ``harness-fake-plugin``."""
    return re.sub(r"[-_.]+", "-", distribution).lower()


def env_names(variable: str) -> list[str]:
    """The comma-separated names in an environment variable (``HARNESS_DISABLE_PLUGINS``)."""
    return [n.strip() for n in os.environ.get(variable, "").split(",") if n.strip()]


def _selected_by(names: Sequence[str], dist: str, ep_name: str) -> list[str]:
    """The names of a selection (disable or only) that select this entry point."""
    hits = []
    for name in names:
        qualifier, sep, plain = name.rpartition(":")
        if sep:
            if normalize(qualifier) == normalize(dist) and plain == ep_name:
                hits.append(name)
        elif name == ep_name or normalize(name) == normalize(dist):
            hits.append(name)
    return hits



@attrs.define
class Loaded:
    """What one load of the entry points gave: the plugin manager and the fate of each plugin."""

    manager: pluggy.PluginManager
    plugins: dict[str, LoadedPlugin]  # key ("distribution:name") -> plugin
    broken: list[BrokenPlugin]
    disabled: list[DisabledPlugin]  # skipped before import (disabled, or not among --plugins)
    unmatched: list[str]  # names of either selection that matched no entry point (a typo?)


def new_manager() -> pluggy.PluginManager:
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    return pm


def register_checked(pm: pluggy.PluginManager, module: object, key: str) -> None:
    """``pm.register`` plus this plugin's share of ``check_pending()``: a hook with a wrong
    signature or a misspelled hook name is a ``PluginLoadError`` and leaves nothing registered,
    and so is a key taken by another object or an object already registered under another key
    (pluggy's bare ``ValueError``)."""
    taken = pm.get_plugin(key)
    if taken is not None and taken is not module:
        raise PluginLoadError(f"plugin {key}: that name is already taken by another plugin object "
                              f"({taken!r})")
    if pm.is_registered(module):
        raise PluginLoadError(f"plugin {key}: this plugin object is already registered as "
                              f"{pm.get_name(module)}")
    try:
        pm.register(module, name=key)
    except pluggy.PluginValidationError as exc:
        raise PluginLoadError(f"plugin {key}: {one_line(str(exc))}") from None
    unknown = sorted(
        caller.name
        for caller in pm.get_hookcallers(module) or []
        if not caller.has_spec()
        and any(impl.plugin is module and not impl.optionalhook for impl in caller.get_hookimpls())
    )
    if unknown:
        pm.unregister(module)
        raise PluginLoadError(
            f"plugin {key} implements unknown hook(s) {', '.join(unknown)} (misspelled?); "
            f"the hooks are: {', '.join(HOOKS)}"
        )


def load(disable: Sequence[str] = (), only: Sequence[str] | None = None) -> Loaded:
    """Load every ``harness`` entry point, each on its own: one that fails to import or to
    register is recorded as broken. ``disable`` names entry points to skip before import;
    ``only``, when given, names the third-party plugins to load (the built-ins always load)."""
    loaded = Loaded(new_manager(), {}, [], [], [])
    own_seen = False
    matched: set[str] = set()
    for ep in sorted(metadata.entry_points(group=GROUP), key=_ep_sort_key):
        dist = ep.dist.name if ep.dist is not None else "unknown"
        own = dist == OWN_DISTRIBUTION
        own_seen = own_seen or own
        key = f"{dist}:{ep.name}"
        if key in loaded.plugins:
            continue
        hits = _selected_by(disable, dist, ep.name)
        chosen = [] if only is None or own else _selected_by(only, dist, ep.name)
        matched.update(hits + chosen)
        if hits or (only is not None and not own and not chosen):
            reason = f"{DISABLE_ENV}" if hits else f"not among --plugins ({PLUGINS_ENV})"
            loaded.disabled.append(DisabledPlugin(ep.name, ep.value, dist, reason))
            continue
        try:
            module = ep.load()
        except Exception as exc:  # a broken third-party plugin must not break us
            loaded.broken.append(BrokenPlugin(ep.name, ep.value, dist, _describe(exc)))
            continue
        info = LoadedPlugin(name=ep.name, module=ep.value, distribution=dist, key=key)
        try:
            register_checked(loaded.manager, module, key)
        except PluginLoadError as exc:
            loaded.broken.append(BrokenPlugin(info.name, info.module, info.distribution, str(exc)))
            continue
        loaded.plugins[key] = info
    loaded.unmatched = [n for n in [*disable, *(only or ())] if n not in matched]
    if not own_seen:  # e.g. a source tree on PYTHONPATH: harness.plugins exists only when installed
        loaded.broken.append(BrokenPlugin("built-ins", "harness.plugins", OWN_DISTRIBUTION, NOT_INSTALLED))
    try:  # every plugin was checked as it was registered; this is a safety net
        loaded.manager.check_pending()
    except pluggy.PluginValidationError as exc:
        raise PluginLoadError(f"a plugin implements an unknown hook: {exc}") from None
    return loaded


def _ep_sort_key(ep: metadata.EntryPoint) -> tuple[int, str, str]:
    dist = ep.dist.name if ep.dist is not None else ""
    return (0 if dist == OWN_DISTRIBUTION else 1, dist, ep.name)


def one_line(text: str) -> str:
    """Text on one line (a plugin error may span several)."""
    return " ".join(text.split())


def _describe(exc: BaseException) -> str:
    return one_line(traceback.format_exception_only(type(exc), exc)[-1])
