"""Loading plugins: built-in and third-party alike, through the ``harness`` entry points.

``load_plugins()`` is idempotent and every registry lookup calls it, so nothing depends
on import order. Each entry point is loaded on its own, so that a plugin that fails to
import, implements a misspelled hook (pluggy's ``check_pending()``, per plugin) or whose
hook raises is recorded (``broken_plugins()``) instead of breaking the harness, and two
distributions that use the same entry-point name are both loaded.

``HARNESS_DISABLE_PLUGINS=name,...`` skips entry points at load, before their module is
imported: each name is an entry-point name (``fake``), a distribution name
(``harness-fake-plugin``: all its entry points) or both (``harness-fake-plugin:fake``).
``disabled_plugins()`` lists what was skipped, ``unmatched_disabled()`` the names that
matched nothing.
"""

from __future__ import annotations

import importlib.metadata as metadata
import os
import re
import threading
import traceback
from types import ModuleType

import attrs
import pluggy

from harness import hookspecs
from harness.errors import PluginLoadError

GROUP = "harness"
OWN_DISTRIBUTION = "calibration-harness"
DISABLE_ENV = "HARNESS_DISABLE_PLUGINS"

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
    """An entry point skipped at load because ``HARNESS_DISABLE_PLUGINS`` names it."""

    name: str
    module: str
    distribution: str


@attrs.frozen
class BrokenPlugin:
    name: str
    module: str
    distribution: str
    error: str


_lock = threading.RLock()
_pm: pluggy.PluginManager | None = None
_loaded: dict[str, LoadedPlugin] = {}
_broken: list[BrokenPlugin] = []
_disabled: list[DisabledPlugin] = []
_unmatched: list[str] = []  # names in HARNESS_DISABLE_PLUGINS that matched no entry point


def normalize(distribution: str) -> str:
    """A distribution name as PEP 503 compares them: ``Harness_Fake.plugin`` -> ``harness-fake-plugin``."""
    return re.sub(r"[-_.]+", "-", distribution).lower()


def _disabled_names() -> list[str]:
    return [n.strip() for n in os.environ.get(DISABLE_ENV, "").split(",") if n.strip()]


def _disabled_by(names: list[str], dist: str, ep_name: str) -> list[str]:
    """The names of ``HARNESS_DISABLE_PLUGINS`` that select this entry point."""
    hits = []
    for name in names:
        qualifier, sep, plain = name.rpartition(":")
        if sep:
            if normalize(qualifier) == normalize(dist) and plain == ep_name:
                hits.append(name)
        elif name == ep_name or normalize(name) == normalize(dist):
            hits.append(name)
    return hits


def plugin_manager() -> pluggy.PluginManager:
    """The one plugin manager, with every plugin loaded."""
    load_plugins()
    assert _pm is not None
    return _pm


def _new_manager() -> pluggy.PluginManager:
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    return pm


def _add(pm: pluggy.PluginManager, key: str, module: ModuleType, info: LoadedPlugin) -> None:
    """Register one plugin module; one that pluggy rejects is recorded as broken."""
    if pm.is_registered(module):
        return
    try:
        _register_checked(pm, module, key)
    except PluginLoadError as exc:
        _broken.append(BrokenPlugin(info.name, info.module, info.distribution, str(exc)))
        return
    _loaded[key] = info


def _register_checked(pm: pluggy.PluginManager, module: object, key: str) -> None:
    """``pm.register`` plus this plugin's share of ``check_pending()``: a hook with a wrong
    signature or a misspelled hook name is a ``PluginLoadError`` and leaves nothing registered."""
    try:
        pm.register(module, name=key)
    except pluggy.PluginValidationError as exc:
        raise PluginLoadError(f"plugin {key}: {_one_line(str(exc))}") from None
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
            f"the hooks are: {', '.join(hookspecs.KINDS.values())}"
        )


def _one_line(text: str) -> str:
    return " ".join(text.split())


def load_plugins() -> pluggy.PluginManager:
    """Load every ``harness`` entry point once; later calls return at once."""
    global _pm
    with _lock:
        if _pm is not None:
            return _pm
        pm = _new_manager()
        own_seen = False
        disable = _disabled_names()
        matched: set[str] = set()
        for ep in sorted(metadata.entry_points(group=GROUP), key=_ep_sort_key):
            dist = ep.dist.name if ep.dist is not None else "unknown"
            own_seen = own_seen or dist == OWN_DISTRIBUTION
            key = f"{dist}:{ep.name}"
            if key in _loaded:
                continue
            hits = _disabled_by(disable, dist, ep.name)
            if hits:
                matched.update(hits)
                _disabled.append(DisabledPlugin(name=ep.name, module=ep.value, distribution=dist))
                continue
            try:
                module = ep.load()
            except Exception as exc:  # a broken third-party plugin must not break us
                _broken.append(
                    BrokenPlugin(
                        name=ep.name, module=ep.value, distribution=dist, error=_describe(exc)
                    )
                )
                continue
            _add(pm, key, module, LoadedPlugin(name=ep.name, module=ep.value, distribution=dist, key=key))
        _unmatched[:] = [n for n in disable if n not in matched]
        if not own_seen:  # e.g. a source tree on PYTHONPATH: harness.plugins exists only when installed
            _broken.append(BrokenPlugin(name="built-ins", module="harness.plugins",
                                        distribution=OWN_DISTRIBUTION, error=NOT_INSTALLED))
        try:  # every plugin was checked as it was registered; this is a safety net
            pm.check_pending()
        except pluggy.PluginValidationError as exc:
            raise PluginLoadError(f"a plugin implements an unknown hook: {exc}") from None
        _pm = pm
        return pm


def _ep_sort_key(ep: metadata.EntryPoint) -> tuple[int, str, str]:
    dist = ep.dist.name if ep.dist is not None else ""
    return (0 if dist == OWN_DISTRIBUTION else 1, dist, ep.name)


def _describe(exc: BaseException) -> str:
    return _one_line(traceback.format_exception_only(type(exc), exc)[-1])


def loaded_plugins() -> list[LoadedPlugin]:
    load_plugins()
    return list(_loaded.values())


def disabled_plugins() -> list[DisabledPlugin]:
    """Entry points that ``HARNESS_DISABLE_PLUGINS`` skipped."""
    load_plugins()
    return list(_disabled)


def unmatched_disabled() -> list[str]:
    """Names in ``HARNESS_DISABLE_PLUGINS`` that matched no entry point (a typo?)."""
    load_plugins()
    return list(_unmatched)


def broken_plugins() -> list[BrokenPlugin]:
    """Plugins that failed: at import, at registration, or in their registration hook."""
    from harness import registry

    registry.strategies()  # runs every hook once, so a hook that raises is recorded
    return list(_broken)


def mark_broken(plugin_key: str, error: str) -> None:
    """Record that a loaded plugin failed later (its registration hook raised)."""
    info = _loaded.get(plugin_key)
    entry = BrokenPlugin(
        name=info.name if info else plugin_key,
        module=info.module if info else plugin_key,
        distribution=info.distribution if info else "unknown",
        error=_one_line(error),
    )
    with _lock:
        if entry not in _broken:
            _broken.append(entry)


def distribution_of(plugin_key: str) -> str:
    info = _loaded.get(plugin_key)
    return info.distribution if info else plugin_key


def register_plugin(module: object, *, name: str, distribution: str = "test") -> None:
    """Register a plugin object at run time (tests, notebooks); clears the registry cache.

    A plugin with a misspelled hook or a hook of the wrong signature raises
    ``PluginLoadError`` and is not registered.
    """
    from harness import registry

    pm = plugin_manager()
    key = f"{distribution}:{name}"
    _register_checked(pm, module, key)
    _loaded[key] = LoadedPlugin(name=name, module=getattr(module, "__name__", name),
                                distribution=distribution, key=key)
    registry.reset_cache()


def unregister_plugin(name: str, *, distribution: str = "test") -> None:
    from harness import registry

    key = f"{distribution}:{name}"
    pm = plugin_manager()
    plugin = pm.get_plugin(key)
    if plugin is not None:
        pm.unregister(plugin)
    info = _loaded.pop(key, None)
    if info is not None:
        _broken[:] = [b for b in _broken if (b.name, b.distribution) != (info.name, info.distribution)]
    registry.reset_cache()


def reset() -> None:
    """Forget everything loaded (tests only)."""
    global _pm
    from harness import registry

    with _lock:
        _pm = None
        _loaded.clear()
        _broken.clear()
        _disabled.clear()
        _unmatched.clear()
        registry.reset_cache()
