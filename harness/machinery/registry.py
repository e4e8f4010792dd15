"""The registry: the one object that owns the plugins and every strategy they registered.

``Registry`` loads the plugins (``harness.machinery.plugin_loading``) the first time it is asked
anything, runs every registration hook once, and keeps the plugin manager, what loaded,
what broke and the strategy table. ``current()`` is the process's registry; the module's
functions (``get``, ``create``, ...) ask it, and ``reset()`` (tests) replaces it. Kinds,
their hooks and factory shapes come from ``harness.machinery.kinds``.

Failures stay local to the plugin that made them:

- a name registered twice for one kind keeps the first registration; the later one is
  listed by ``duplicates()`` (both sources named) and is reachable only by its qualified
  name ``distribution:name`` (``other-dist:ece``), as the first is by its own
  (``calibration-harness:ece``);
- a plugin that fails to import or whose hook raises gives nothing and is listed by
  ``broken_plugins()``;
- a plugin that registered nothing, or has a function named like a hook without
  ``@harness.hookimpl``, is listed by ``plugin_notes()`` with a hint.

``create()`` checks the parameter values against their types (``harness.machinery.params``) and the
built object against its kind (``harness.machinery.contract``); a metric is wrapped so that what it
returns is checked.
"""

from __future__ import annotations

import difflib
import functools
import inspect
import re
import sys
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import attrs

from harness.errors import ParameterError, PluginLoadError, UnknownStrategyError
from harness.machinery import plugin_loading
from harness.machinery.config import Config
from harness.machinery.kinds import KINDS, REQUIRED
from harness.machinery.plugin_loading import BrokenPlugin, DisabledPlugin, LoadedPlugin

if TYPE_CHECKING:
    import pluggy

    from harness.machinery.params import ParamType

__all__ = ["REQUIRED", "Registry", "Strategy", "Duplicate", "PluginNote", "current", "reset", "get", "names",
           "strategies", "create", "create_judge", "resolve_params", "duplicates", "plugin_notes",
           "current_name", "broken_plugins", "loaded_plugins", "disabled_plugins", "unmatched_selection",
           "register_plugin", "unregister_plugin"]


@attrs.frozen
class Strategy:
    kind: str
    name: str
    factory: Callable[..., Any]
    source: str  # the distribution that registered it
    plugin: str  # the plugin (entry point) that registered it
    shadowed: bool = False  # a later registration of a taken name: reachable only as DIST:NAME
    deprecated: tuple[str, ...] = ()  # its former names: still selected and configured, with a notice

    @property
    def distribution(self) -> str:
        """The distribution's name, without a note such as `` (source)``."""
        return self.source.split(" (", 1)[0]

    @property
    def qualified(self) -> str:
        """``distribution:name``, which selects this registration whatever else has the name."""
        return f"{self.distribution}:{self.name}"

    @property
    def label(self) -> str:
        """How an error names it: ``metric 'ece' (calibration-harness)``."""
        shown = self.qualified if self.shadowed else self.name
        return f"{self.kind} {shown!r} ({self.source})"

    def config_names(self) -> tuple[str, ...]:
        """The names whose config tables and ``-p kind.NAME.key`` apply to it, lowest first."""
        return (self.qualified,) if self.shadowed else (*self.deprecated, self.name, self.qualified)

    @property
    def summary(self) -> str:
        """The first sentence of the factory's docstring (``harness list`` shows it)."""
        return summary(self.factory)

    def parameters(self) -> dict[str, Any] | None:
        """The factory's own keyword parameters and defaults (``None``: takes ``**kwargs``)."""
        return factory_parameters(self.kind, self.factory)

    def parameter_types(self) -> dict[str, ParamType] | None:
        """The type of each parameter (``harness.machinery.params``; ``None``: takes ``**kwargs``)."""
        return factory_parameter_types(self.kind, self.factory)

    def effective_parameters(self, config: Config | None = None) -> dict[str, Any]:
        config = config or Config.load()
        own = self.parameters()
        layered, _ = config.layered_params(self.kind, self.config_names(), own)
        return {**(own or {}), **layered}

    def parameter_sources(self, config: Config) -> dict[str, str]:
        own = self.parameters() or {}
        _, sources = config.layered_params(self.kind, self.config_names(), self.parameters())
        return {key: sources.get(key, "default") for key in {**own, **sources}}


@attrs.frozen
class Duplicate:
    """A later registration of a name its kind already has: not used unless asked for by qualified name."""

    strategy: Strategy  # the later one
    first: Strategy  # the one kept under the plain name

    @property
    def error(self) -> str:
        s, first = self.strategy, self.first
        if s.qualified == first.qualified:
            return (f"{s.kind} {s.name!r} is registered twice by {s.source} ({first.plugin}, {s.plugin}); "
                    f"only the first is used")
        return (f"{s.kind} {s.name!r} is also registered by {first.source} ({first.plugin}), which is kept; "
                f"select this one as {s.qualified} (and that one as {first.qualified})")


@attrs.frozen
class PluginNote:
    """A loaded plugin that may not do what its author meant (it registered nothing, say)."""

    name: str
    distribution: str
    hint: str


def factory_parameters(kind: str, factory: Callable[..., Any]) -> dict[str, Any] | None:
    """The factory's keyword parameters and their defaults, plus the kind's core settings
    (``None``: it takes ``**kwargs``)."""
    spec = KINDS[kind]
    own = spec.signature_parameters(factory)
    if own is None:
        return None
    empty = inspect.Parameter.empty
    own_defaults = {n: REQUIRED if p.default is empty else p.default for n, p in own.items()}
    # e.g. the core's judge-runner settings are parameters of every judge
    return {**spec.settings_defaults(), **own_defaults}


def factory_parameter_types(kind: str, factory: Callable[..., Any]) -> dict[str, ParamType] | None:
    from harness.machinery.params import parameter_types

    spec = KINDS[kind]
    own = spec.signature_parameters(factory)
    if own is None:
        return None
    types = parameter_types(factory, own)
    settings = spec.settings_class()
    if settings is not None:
        fields = {a.name: inspect.Parameter(a.name, inspect.Parameter.KEYWORD_ONLY, default=a.default,
                                            annotation=a.type or inspect.Parameter.empty)
                  for a in attrs.fields(settings)}
        return {**parameter_types(settings, fields), **types}
    return types


def summary(factory: Callable[..., Any], width: int = 100) -> str:
    """The first sentence of a factory's docstring (of its class, for a class), or ``""``:
    its first paragraph up to the first full stop, at most ``width`` characters."""
    doc = (inspect.getdoc(factory) or "").strip()
    paragraph = " ".join(doc.split("\n\n", 1)[0].split())
    sentence = re.split(r"(?<=[a-z0-9)`])\.\s", paragraph, maxsplit=1)[0]
    sentence = sentence if sentence.endswith(".") or sentence == paragraph else sentence + "."
    return sentence if len(sentence) <= width else sentence[: width - 1].rstrip() + "…"


class Registry:
    """The plugins of one process and the strategies they registered, loaded on first use.

    ``disable`` and ``only`` select plugins as ``HARNESS_DISABLE_PLUGINS`` and
    ``HARNESS_PLUGINS`` do (``None``: read those variables when loading).
    """

    def __init__(self, disable: list[str] | None = None, only: list[str] | None = None) -> None:
        self._disable = disable
        self._only = only
        self._lock = threading.RLock()
        self._loaded: plugin_loading.Loaded | None = None
        self._table: _Table | None = None

    # -- plugins ---------------------------------------------------------------------------

    def _load(self) -> plugin_loading.Loaded:
        with self._lock:
            if self._loaded is None:
                disable = self._disable
                if disable is None:
                    disable = plugin_loading.env_names(plugin_loading.DISABLE_ENV)
                only = self._only
                if only is None and plugin_loading.env_names(plugin_loading.PLUGINS_ENV):
                    only = plugin_loading.env_names(plugin_loading.PLUGINS_ENV)
                self._loaded = plugin_loading.load(disable, only)
            return self._loaded

    @property
    def manager(self) -> pluggy.PluginManager:
        """The plugin manager, with every plugin loaded."""
        return self._load().manager

    def plugins(self) -> list[LoadedPlugin]:
        return list(self._load().plugins.values())

    def broken(self) -> list[BrokenPlugin]:
        """Plugins that failed: at import, at registration, or in their registration hook."""
        self._collect()  # runs every hook once, so that a hook that raises is recorded
        return list(self._load().broken)

    def disabled(self) -> list[DisabledPlugin]:
        return list(self._load().disabled)

    def unmatched(self) -> list[str]:
        """Names of ``HARNESS_DISABLE_PLUGINS`` or ``--plugins`` that matched no entry point."""
        return list(self._load().unmatched)

    def register_plugin(self, module: object, *, name: str, distribution: str = "test") -> None:
        """Register a plugin object at run time (tests, notebooks). A plugin with a misspelled
        hook or a hook of the wrong signature raises ``PluginLoadError`` and is not registered."""
        loaded = self._load()
        key = f"{distribution}:{name}"
        with self._lock:
            plugin_loading.register_checked(loaded.manager, module, key)
            loaded.plugins[key] = LoadedPlugin(name=name, module=getattr(module, "__name__", name),
                                               distribution=distribution, key=key)
            self._table = None

    def registration_of(self, plugin: object) -> LoadedPlugin | None:
        """How this very plugin object is registered (an installed entry point's module, say), if it is."""
        loaded = self._load()
        with self._lock:
            key = loaded.manager.get_name(plugin)
            return None if key is None else loaded.plugins.get(key)

    def readmit(self, plugin: object, info: LoadedPlugin) -> None:
        """Register ``plugin`` again as it was before ``unregister_plugin`` (``info`` from
        ``registration_of``): what ``harness.testing.registered`` does after its block."""
        loaded = self._load()
        with self._lock:
            plugin_loading.register_checked(loaded.manager, plugin, info.key)
            loaded.plugins[info.key] = info
            self._table = None

    def unregister_plugin(self, name: str, *, distribution: str = "test") -> None:
        loaded = self._load()
        key = f"{distribution}:{name}"
        with self._lock:
            plugin = loaded.manager.get_plugin(key)
            if plugin is not None:
                loaded.manager.unregister(plugin)
            info = loaded.plugins.pop(key, None)
            if info is not None:
                same = (info.name, info.distribution)
                loaded.broken[:] = [b for b in loaded.broken if (b.name, b.distribution) != same]
            self._table = None

    # -- strategies ------------------------------------------------------------------------

    def _collect(self) -> _Table:
        with self._lock:
            if self._table is None:
                self._table = self._build_table()
            return self._table

    def _build_table(self) -> _Table:
        loaded = self._load()
        registered: list[Strategy] = []  # every registration, kind by kind, in registration order
        counts: dict[str, int] = {}
        failed: set[str] = set()
        for kind, spec in KINDS.items():
            for impl in getattr(loaded.manager.hook, spec.hook).get_hookimpls():  # registration order
                if impl.plugin_name in failed:
                    continue
                added = self._run_hook(loaded, impl, kind)
                if added is None:
                    failed.add(impl.plugin_name)
                    continue
                registered += added
                counts[impl.plugin_name] = counts.get(impl.plugin_name, 0) + len(added)
        table = _Table({k: {} for k in KINDS}, {k: {} for k in KINDS}, [], [], {k: {} for k in KINDS})
        for strategy in registered:  # a plugin whose hook raised contributes nothing at all
            if strategy.plugin not in failed:
                table.add(strategy)
        table.notes = _notes(loaded, counts, failed)
        return table

    @staticmethod
    def _run_hook(loaded: plugin_loading.Loaded, impl: Any, kind: str) -> list[Strategy] | None:
        """Call one plugin's hook; what it registered, or ``None`` when the hook raised (the
        plugin is then recorded as broken)."""
        plugin = impl.plugin_name
        info = loaded.plugins.get(plugin)
        source = info.distribution if info else plugin
        added: list[Strategy] = []

        def register(name: str, factory: Callable[..., Any], *, deprecated: tuple[str, ...] = ()) -> None:
            if not isinstance(name, str) or not name:
                raise PluginLoadError(f"plugin {plugin}: a {kind} name must be a non-empty string")
            if not callable(factory):
                raise PluginLoadError(f"plugin {plugin}: the factory of {kind} {name!r} is not callable")
            former = (deprecated,) if isinstance(deprecated, str) else tuple(deprecated)
            added.append(Strategy(kind, name, factory, source, plugin, deprecated=former))

        try:
            impl.function(register=register)
        except Exception as exc:  # a plugin's bug must not break the harness
            error = plugin_loading.one_line(f"{KINDS[kind].hook} raised {type(exc).__name__}: {exc}")
            entry = BrokenPlugin(info.name if info else plugin, info.module if info else plugin,
                                 source, error)
            if entry not in loaded.broken:
                loaded.broken.append(entry)
            return None
        return added

    def strategies(self, kind: str | None = None) -> list[Strategy]:
        """Every strategy of ``kind`` (or of every kind) under its plain name (see ``duplicates()``)."""
        table = self._collect()
        kinds = [kind] if kind else list(KINDS)
        for k in kinds:
            _check_kind(k)
        return [s for k in kinds for s in sorted(table.by_name[k].values(), key=lambda s: s.name)]

    def current_name(self, kind: str, name: str) -> str:
        """The name a strategy has now: ``name`` itself unless it is a deprecated former name
        (then with a one-line notice on stderr); an unknown name is left for ``get`` to refuse."""
        table = self._collect()
        if name in table.by_name[kind] or name not in table.former[kind]:
            return name
        return self.get(kind, name).name

    def duplicates(self, kind: str | None = None) -> list[Duplicate]:
        """Later registrations of taken names, with the registration kept under each name."""
        return [d for d in self._collect().duplicates if kind is None or d.strategy.kind == kind]

    def notes(self) -> list[PluginNote]:
        """Loaded plugins that registered nothing, or have a hook function without the marker."""
        return list(self._collect().notes)

    def get(self, kind: str, name: str) -> Strategy:
        """The strategy ``name`` (or ``distribution:name``) of ``kind``; an error lists the known names."""
        _check_kind(kind)
        table = self._collect()
        if name in table.by_name[kind]:
            return table.by_name[kind][name]
        if name in table.former[kind] and name not in table.by_name[kind]:
            strategy = table.former[kind][name]
            deprecation_notice(kind, name, strategy.name)
            return strategy
        distribution, sep, plain = name.partition(":")
        if sep:
            found = table.by_qualified[kind].get((plugin_loading.normalize(distribution), plain))
            if found is not None:
                return found
        known = sorted(table.by_name[kind])
        close = difflib.get_close_matches(plain if sep else name, known, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        if sep and plain in table.by_name[kind]:
            sources = sorted({s.distribution for s in table.by_qualified[kind].values() if s.name == plain})
            hint = f"; {plain!r} is registered by {', '.join(sources)}"
        note = ""
        broken = self.broken()
        if broken:
            note = "; plugins that failed to load: " + "; ".join(
                f"{b.distribution} ({b.name}): {b.error}" for b in broken
            )
        disabled = self.disabled()
        if disabled:
            note += "; not loaded: " + ", ".join(f"{d.name} ({d.distribution}, {d.reason})" for d in disabled)
        known_text = ", ".join(known) or "(none)"
        raise UnknownStrategyError(f"unknown {kind} {name!r}; known: {known_text}{hint}{note}")

    def resolve_params(self, kind: str, name: str, config: Config | None = None) -> dict[str, Any]:
        """Effective parameters of a strategy, each checked against its type; a required parameter
        left unset is an error."""
        strategy = self.get(kind, name)
        config = config or Config.load()
        params = strategy.effective_parameters(config)
        for old in strategy.deprecated:  # a table or -p under a former name applies, with the notice
            if any(layer.params(kind, old) for layer in config.layers) or any(
                    o.kind == kind and o.name == old for o in config.overrides):
                deprecation_notice(kind, old, strategy.name)
        missing = [k for k, v in params.items() if isinstance(v, str) and v == REQUIRED]
        if missing:
            raise ParameterError(
                f"{kind} {name!r} needs parameter(s) {', '.join(missing)} "
                f"(set them with -p {kind}.{missing[0]}=...)"
            )
        _check_types(strategy, name, params, config)
        return params

    def create(self, kind: str, name: str, config: Config | None = None, **runtime: Any) -> Any:
        """Build a strategy with its effective parameters (metrics: a bound function whose value is
        checked); the object built is checked against its kind (``harness.machinery.contract``)."""
        from harness.machinery import contract

        strategy = self.get(kind, name)
        params = self.resolve_params(kind, name, config)
        if not KINDS[kind].builds_object:
            return functools.partial(contract.checked_metric(strategy.factory, strategy.label), **params)
        if KINDS[kind].settings is not None:
            raise ParameterError(f"a {kind} has core settings: use registry.create_with_settings()")
        return _call(strategy, name, params, runtime)

    def create_with_settings(self, kind: str, name: str, config: Config | None = None) -> tuple[Any, Any]:
        """Build a strategy whose kind has core settings (a judge: the runner's concurrency,
        retries, ...), and those settings."""
        strategy = self.get(kind, name)
        if KINDS[kind].settings is None:
            raise ParameterError(f"a {kind} has no core settings: use registry.create()")
        settings, own = KINDS[kind].split_settings(self.resolve_params(kind, name, config))
        return _call(strategy, name, own, {}), settings


_NOTIFIED: set[tuple[str, str]] = set()


def deprecation_notice(kind: str, old: str, new: str) -> None:
    """One line on stderr, once per process and name, that ``old`` is now ``new``."""
    if (kind, old) in _NOTIFIED:
        return
    _NOTIFIED.add((kind, old))
    print(f"harness: note: {kind} {old!r} is deprecated: it is now {new!r} (the old name still works, "
          f"for now)", file=sys.stderr)


@attrs.define
class _Table:
    by_name: dict[str, dict[str, Strategy]]  # kind -> name -> the first registration
    by_qualified: dict[str, dict[tuple[str, str], Strategy]]  # kind -> (distribution, name) -> strategy
    duplicates: list[Duplicate]
    notes: list[PluginNote]
    former: dict[str, dict[str, Strategy]]  # kind -> a deprecated former name -> the strategy now

    def add(self, strategy: Strategy) -> None:
        kind, name = strategy.kind, strategy.name
        first = self.by_name[kind].get(name)
        if first is not None:
            strategy = attrs.evolve(strategy, shadowed=True)
            self.duplicates.append(Duplicate(strategy, first))
        else:
            self.by_name[kind][name] = strategy
            for old in strategy.deprecated:
                self.former[kind].setdefault(old, strategy)
        key = (plugin_loading.normalize(strategy.distribution), name)
        self.by_qualified[kind].setdefault(key, strategy)


def _notes(loaded: plugin_loading.Loaded, counts: dict[str, int], failed: set[str]) -> list[PluginNote]:
    """Hints for plugins that loaded but may not do what their author meant."""
    hooks = [k.hook for k in KINDS.values()]
    notes = []
    for info in loaded.plugins.values():
        if not info.key or info.key in failed:
            continue
        plugin = loaded.manager.get_plugin(info.key)
        if plugin is None:
            continue
        implemented = {caller.name for caller in loaded.manager.get_hookcallers(plugin) or []}
        unmarked = [h for h in hooks if h not in implemented and callable(getattr(plugin, h, None))]
        hints = [f"has a function named {h} without @harness.hookimpl" for h in unmarked]
        if not counts.get(info.key):
            used = sorted(implemented & set(hooks))
            why = f" (its {', '.join(used)} never called register)" if used and not unmarked else ""
            hints.insert(0, "registered nothing" + why)
        if hints:
            notes.append(PluginNote(info.name, info.distribution, "; ".join(hints)))
    return notes


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise UnknownStrategyError(f"unknown kind {kind!r}; kinds: {', '.join(KINDS)}")


def _check_types(strategy: Strategy, name: str, params: dict[str, Any], config: Config) -> None:
    types = strategy.parameter_types()
    if not types:
        return
    bad = [key for key, value in params.items() if key in types and not types[key].accepts(value)]
    if not bad:
        return
    key = bad[0]
    source = strategy.parameter_sources(config).get(key, "default")
    where = "the factory's default" if source == "default" else source
    expected = types[key]
    raise ParameterError(
        f"{strategy.kind} {name!r} ({strategy.source}): parameter {key} = {params[key]!r} "
        f"(set by {where}) must be {expected.form()} ({key}: {expected.describe()})"
    )


def _call(strategy: Strategy, name: str, params: dict, runtime: dict) -> Any:
    from harness.machinery import contract

    kind = strategy.kind
    try:
        built = strategy.factory(**params, **runtime)
    except TypeError as exc:
        if "unexpected keyword" in str(exc) or "required" in str(exc):
            raise ParameterError(f"{kind} {name!r}: {exc}") from None
        raise
    contract.check_members(kind, built, strategy.label)
    contract.remember(built, strategy.label)
    return built


# -- the process's registry ----------------------------------------------------------------

_current: Registry | None = None
_current_lock = threading.Lock()


def current() -> Registry:
    """The process's registry (made on first use)."""
    global _current
    with _current_lock:
        if _current is None:
            _current = Registry()
        return _current


def reset() -> None:
    """Forget the plugins and strategies; the next lookup loads them afresh (tests)."""
    global _current
    with _current_lock:
        _current = None


def get(kind: str, name: str) -> Strategy:
    return current().get(kind, name)


def current_name(kind: str, name: str) -> str:
    return current().current_name(kind, name)


def names(kind: str) -> list[str]:
    return [s.name for s in current().strategies(kind)]


def strategies(kind: str | None = None) -> list[Strategy]:
    return current().strategies(kind)


def duplicates(kind: str | None = None) -> list[Duplicate]:
    return current().duplicates(kind)


def plugin_notes() -> list[PluginNote]:
    return current().notes()


def broken_plugins() -> list[BrokenPlugin]:
    return current().broken()


def loaded_plugins() -> list[LoadedPlugin]:
    return current().plugins()


def disabled_plugins() -> list[DisabledPlugin]:
    return current().disabled()


def unmatched_selection() -> list[str]:
    return current().unmatched()


def resolve_params(kind: str, name: str, config: Config | None = None) -> dict[str, Any]:
    return current().resolve_params(kind, name, config)


def create(kind: str, name: str, config: Config | None = None, **runtime: Any) -> Any:
    return current().create(kind, name, config, **runtime)


def create_judge(name: str, config: Config | None = None) -> tuple[Any, Any]:
    """A judge and the core runner's settings (concurrency, retries, ...) for it."""
    return current().create_with_settings("judge", name, config)


def register_plugin(module: object, *, name: str, distribution: str = "test") -> None:
    current().register_plugin(module, name=name, distribution=distribution)


def unregister_plugin(name: str, *, distribution: str = "test") -> None:
    current().unregister_plugin(name, distribution=distribution)
