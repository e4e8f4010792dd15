"""Loading plugins: built-in and third-party alike, through the ``harness`` entry points.

``load_plugins()`` is idempotent and every registry lookup calls it, so nothing depends
on import order. Each entry point is loaded on its own, so that a plugin that fails to
import is recorded (``broken_plugins()``) instead of breaking the harness, and two
distributions that use the same entry-point name are both loaded.
"""

from __future__ import annotations

import importlib
import importlib.metadata as metadata
import threading
import traceback
from types import ModuleType

import attrs
import pluggy

from harness import hookspecs
from harness.errors import PluginLoadError

GROUP = "harness"
OWN_DISTRIBUTION = "calibration-harness"

# Used only when the harness runs from a source tree that was never installed, so that
# its entry points are missing; an installed harness loads these through entry points.
DEFAULT_PLUGINS = (
    "harness.plugins.metrics",
    "harness.plugins.backends",
    "harness.plugins.extractors",
    "harness.plugins.judges",
    "harness.plugins.trainers",
    "harness.tasks",
)


@attrs.frozen
class LoadedPlugin:
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
    if pm.is_registered(module):
        return
    pm.register(module, name=key)
    _loaded[key] = info


def load_plugins() -> pluggy.PluginManager:
    """Load every ``harness`` entry point once; later calls return at once."""
    global _pm
    with _lock:
        if _pm is not None:
            return _pm
        pm = _new_manager()
        own_seen = False
        for ep in sorted(metadata.entry_points(group=GROUP), key=_ep_sort_key):
            dist = ep.dist.name if ep.dist is not None else "unknown"
            own_seen = own_seen or dist == OWN_DISTRIBUTION
            key = f"{dist}:{ep.name}"
            if key in _loaded:
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
            _add(pm, key, module, LoadedPlugin(name=ep.name, module=ep.value, distribution=dist))
        if not own_seen:
            for module_name in DEFAULT_PLUGINS:
                module = importlib.import_module(module_name)
                short = module_name.rsplit(".", 1)[-1]
                info = LoadedPlugin(
                    name=short, module=module_name, distribution=f"{OWN_DISTRIBUTION} (source)"
                )
                _add(pm, f"{OWN_DISTRIBUTION}:{short}", module, info)
        try:
            pm.check_pending()
        except pluggy.PluginValidationError as exc:
            raise PluginLoadError(f"a plugin implements an unknown hook: {exc}") from None
        _pm = pm
        return pm


def _ep_sort_key(ep: metadata.EntryPoint) -> tuple[int, str, str]:
    dist = ep.dist.name if ep.dist is not None else ""
    return (0 if dist == OWN_DISTRIBUTION else 1, dist, ep.name)


def _describe(exc: BaseException) -> str:
    last = traceback.format_exception_only(type(exc), exc)[-1].strip()
    return last.replace("\n", " ")


def loaded_plugins() -> list[LoadedPlugin]:
    load_plugins()
    return list(_loaded.values())


def broken_plugins() -> list[BrokenPlugin]:
    load_plugins()
    return list(_broken)


def distribution_of(plugin_key: str) -> str:
    info = _loaded.get(plugin_key)
    return info.distribution if info else plugin_key


def register_plugin(module: object, *, name: str, distribution: str = "test") -> None:
    """Register a plugin object at run time (tests, notebooks); clears the registry cache."""
    from harness import registry

    pm = plugin_manager()
    key = f"{distribution}:{name}"
    pm.register(module, name=key)
    _loaded[key] = LoadedPlugin(name=name, module=getattr(module, "__name__", name),
                                distribution=distribution)
    registry.reset_cache()


def unregister_plugin(name: str, *, distribution: str = "test") -> None:
    from harness import registry

    key = f"{distribution}:{name}"
    pm = plugin_manager()
    plugin = pm.get_plugin(key)
    if plugin is not None:
        pm.unregister(plugin)
    _loaded.pop(key, None)
    registry.reset_cache()


def reset() -> None:
    """Forget everything loaded (tests only)."""
    global _pm
    from harness import registry

    with _lock:
        _pm = None
        _loaded.clear()
        _broken.clear()
        registry.reset_cache()
