"""The strategy registry: every task, backend, extractor, judge, metric, calibrator and trainer.

Plugins fill it through the hooks of ``harness.hookspecs``; each entry records its kind,
name, factory, the distribution that provided it, and its default parameters. Lookups
load the plugins first, so the registry is never empty by accident.

Failures stay local to the plugin that made them:

- a name registered twice for one kind keeps the first registration; the later one is
  listed by ``duplicates()`` (both sources named) and is reachable only by its qualified
  name ``distribution:name`` (``other-dist:ece``), as the first is by its own
  (``calibration-harness:ece``);
- a plugin whose hook raises gives nothing and is listed as broken
  (``plugin_manager.broken_plugins()``);
- a plugin that registered nothing, or has a function named like a hook without
  ``@harness.hookimpl``, is listed by ``plugin_notes()`` with a hint.

``create()`` checks the parameter values against their types (``harness.params``) and the
built object against its kind (``harness.contract``); a metric is wrapped so that what it
returns is checked.
"""

from __future__ import annotations

import difflib
import functools
import inspect
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import attrs

from harness import plugin_manager as plugins
from harness.config import Config
from harness.errors import ParameterError, PluginLoadError, UnknownStrategyError
from harness.hookspecs import KINDS

if TYPE_CHECKING:
    from harness.params import ParamType

# The default shown for a parameter without one (harness.params and harness.contract load
# when first needed, so that `harness list` starts fast).
REQUIRED = "<required>"
# Keyword arguments the core passes at run time; they are not registry parameters.
RUNTIME_ARGUMENTS = {"backend": ("model", "adapter")}

__all__ = ["REQUIRED", "Strategy", "Duplicate", "PluginNote", "get", "names", "strategies", "create",
           "create_judge", "resolve_params", "duplicates", "plugin_notes", "reset_cache"]


@attrs.frozen
class Strategy:
    kind: str
    name: str
    factory: Callable[..., Any]
    source: str  # the distribution that registered it
    plugin: str  # the plugin (entry point) that registered it
    shadowed: bool = False  # a later registration of a taken name: reachable only as DIST:NAME

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
        return (self.qualified,) if self.shadowed else (self.name, self.qualified)

    def parameters(self) -> dict[str, Any] | None:
        """The factory's own keyword parameters and defaults (``None``: takes ``**kwargs``)."""
        return factory_parameters(self.kind, self.factory)

    def parameter_types(self) -> dict[str, ParamType] | None:
        """The type of each parameter (``harness.params``; ``None``: takes ``**kwargs``)."""
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


@attrs.define
class _Table:
    by_name: dict[str, dict[str, Strategy]]  # kind -> name -> the first registration
    by_qualified: dict[str, dict[tuple[str, str], Strategy]]  # kind -> (distribution, name) -> strategy
    duplicates: list[Duplicate]
    notes: list[PluginNote]


def factory_parameters(kind: str, factory: Callable[..., Any]) -> dict[str, Any] | None:
    own = _signature_parameters(kind, factory)
    if own is None:
        return None
    empty = inspect.Parameter.empty
    own_defaults = {n: REQUIRED if p.default is empty else p.default for n, p in own.items()}
    if kind == "judge":  # the core's judge-runner settings are parameters of every judge
        from harness.judge_settings import DEFAULTS

        return {**DEFAULTS, **own_defaults}
    return own_defaults


def factory_parameter_types(kind: str, factory: Callable[..., Any]) -> dict[str, ParamType] | None:
    from harness.params import parameter_types

    own = _signature_parameters(kind, factory)
    if own is None:
        return None
    types = parameter_types(factory, own)
    if kind == "judge":
        from harness.judge_settings import JudgeSettings

        settings = {a.name: inspect.Parameter(a.name, inspect.Parameter.KEYWORD_ONLY, default=a.default,
                                              annotation=a.type or inspect.Parameter.empty)
                    for a in attrs.fields(JudgeSettings)}
        return {**parameter_types(JudgeSettings, settings), **types}
    return types


def _signature_parameters(kind: str, factory: Callable[..., Any]) -> dict[str, inspect.Parameter] | None:
    try:
        signature = inspect.signature(factory)
    except (TypeError, ValueError):
        return None
    params = list(signature.parameters.values())
    if kind == "metric":
        params = params[2:]  # (confidence, correct, **params)
    skip = set(RUNTIME_ARGUMENTS.get(kind, ()))
    result: dict[str, inspect.Parameter] = {}
    for p in params:
        if p.kind is inspect.Parameter.VAR_KEYWORD:
            return None
        if p.kind is inspect.Parameter.VAR_POSITIONAL or p.name in skip or p.name == "self":
            continue
        result[p.name] = p
    return result


_cache: _Table | None = None


def reset_cache() -> None:
    global _cache
    _cache = None


def _collect() -> _Table:
    global _cache
    if _cache is not None:
        return _cache
    pm = plugins.load_plugins()
    registered: list[Strategy] = []  # every registration, kind by kind, in registration order
    counts: dict[str, int] = {}
    failed: set[str] = set()
    for kind, hook_name in KINDS.items():
        hook = getattr(pm.hook, hook_name)
        for impl in hook.get_hookimpls():  # registration order (pluggy calls them in reverse)
            if impl.plugin_name in failed:
                continue
            added = _run_hook(impl, kind)
            if added is None:
                failed.add(impl.plugin_name)
                continue
            registered += added
            counts[impl.plugin_name] = counts.get(impl.plugin_name, 0) + len(added)
    table = _Table({k: {} for k in KINDS}, {k: {} for k in KINDS}, [], [])
    for strategy in registered:  # a plugin whose hook raised contributes nothing at all
        if strategy.plugin not in failed:
            _add(table, strategy)
    table.notes = _notes(pm, counts, failed)
    _cache = table
    return table


def _add(table: _Table, strategy: Strategy) -> None:
    kind, name = strategy.kind, strategy.name
    first = table.by_name[kind].get(name)
    if first is not None:
        strategy = attrs.evolve(strategy, shadowed=True)
        table.duplicates.append(Duplicate(strategy, first))
    else:
        table.by_name[kind][name] = strategy
    key = (plugins.normalize(strategy.distribution), name)
    table.by_qualified[kind].setdefault(key, strategy)


def _run_hook(impl: Any, kind: str) -> list[Strategy] | None:
    """Call one plugin's hook; what it registered, or ``None`` when the hook raised (the plugin
    is then recorded as broken)."""
    source = plugins.distribution_of(impl.plugin_name)
    plugin = impl.plugin_name
    added: list[Strategy] = []

    def register(name: str, factory: Callable[..., Any]) -> None:
        if not isinstance(name, str) or not name:
            raise PluginLoadError(f"plugin {plugin}: a {kind} name must be a non-empty string")
        if not callable(factory):
            raise PluginLoadError(f"plugin {plugin}: the factory of {kind} {name!r} is not callable")
        added.append(Strategy(kind, name, factory, source, plugin))

    try:
        impl.function(register=register)
    except Exception as exc:  # a plugin's bug must not break the harness
        plugins.mark_broken(plugin, f"{KINDS[kind]} raised {type(exc).__name__}: {exc}")
        return None
    return added


def _notes(pm: Any, counts: dict[str, int], failed: set[str]) -> list[PluginNote]:
    """Hints for plugins that loaded but may not do what their author meant."""
    notes = []
    for info in plugins.loaded_plugins():
        if not info.key or info.key in failed:
            continue
        plugin = pm.get_plugin(info.key)
        if plugin is None:
            continue
        implemented = {caller.name for caller in pm.get_hookcallers(plugin) or []}
        unmarked = [h for h in KINDS.values()
                    if h not in implemented and callable(getattr(plugin, h, None))]
        hints = [f"has a function named {h} without @harness.hookimpl" for h in unmarked]
        if not counts.get(info.key):
            hooks = sorted(implemented & set(KINDS.values()))
            why = f" (its {', '.join(hooks)} never called register)" if hooks and not unmarked else ""
            hints.insert(0, "registered nothing" + why)
        if hints:
            notes.append(PluginNote(info.name, info.distribution, "; ".join(hints)))
    return notes


def strategies(kind: str | None = None) -> list[Strategy]:
    """Every strategy of ``kind`` (or of every kind) under its plain name; duplicates: ``duplicates()``."""
    table = _collect()
    kinds = [kind] if kind else list(KINDS)
    for k in kinds:
        _check_kind(k)
    return [s for k in kinds for s in sorted(table.by_name[k].values(), key=lambda s: s.name)]


def names(kind: str) -> list[str]:
    return [s.name for s in strategies(kind)]


def duplicates(kind: str | None = None) -> list[Duplicate]:
    """Later registrations of taken names, with the registration kept under each name."""
    return [d for d in _collect().duplicates if kind is None or d.strategy.kind == kind]


def plugin_notes() -> list[PluginNote]:
    """Loaded plugins that registered nothing, or have a hook function without the marker."""
    return list(_collect().notes)


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise UnknownStrategyError(f"unknown kind {kind!r}; kinds: {', '.join(KINDS)}")


def get(kind: str, name: str) -> Strategy:
    """The strategy ``name`` (or ``distribution:name``) of ``kind``, or an error listing the known names."""
    _check_kind(kind)
    table = _collect()
    if name in table.by_name[kind]:
        return table.by_name[kind][name]
    distribution, sep, plain = name.partition(":")
    if sep:
        found = table.by_qualified[kind].get((plugins.normalize(distribution), plain))
        if found is not None:
            return found
    known = sorted(table.by_name[kind])
    close = difflib.get_close_matches(plain if sep else name, known, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    if sep and plain in table.by_name[kind]:
        sources = sorted({s.distribution for s in table.by_qualified[kind].values() if s.name == plain})
        hint = f"; {plain!r} is registered by {', '.join(sources)}"
    note = ""
    broken = plugins.broken_plugins()
    if broken:
        note = "; plugins that failed to load: " + "; ".join(
            f"{b.distribution} ({b.name}): {b.error}" for b in broken
        )
    disabled = plugins.disabled_plugins()
    if disabled:
        note += f"; disabled by {plugins.DISABLE_ENV}: " + ", ".join(
            f"{d.name} ({d.distribution})" for d in disabled
        )
    raise UnknownStrategyError(
        f"unknown {kind} {name!r}; known: {', '.join(known) or '(none)'}{hint}{note}"
    )


def resolve_params(kind: str, name: str, config: Config | None = None) -> dict[str, Any]:
    """Effective parameters of a strategy, each checked against its type; a required parameter
    left unset is an error."""
    strategy = get(kind, name)
    config = config or Config.load()
    params = strategy.effective_parameters(config)
    missing = [k for k, v in params.items() if isinstance(v, str) and v == REQUIRED]
    if missing:
        raise ParameterError(
            f"{kind} {name!r} needs parameter(s) {', '.join(missing)} "
            f"(set them with -p {kind}.{missing[0]}=...)"
        )
    _check_types(strategy, name, params, config)
    return params


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


def create(kind: str, name: str, config: Config | None = None, **runtime: Any) -> Any:
    """Build a strategy with its effective parameters (metrics: a bound function whose value is
    checked); the object built is checked against its kind (``harness.contract``)."""
    from harness import contract

    strategy = get(kind, name)
    params = resolve_params(kind, name, config)
    if kind == "metric":
        return functools.partial(contract.checked_metric(strategy.factory, strategy.label), **params)
    if kind == "judge":
        raise ParameterError("use registry.create_judge() for judges")
    return _call(strategy, name, params, runtime)


def create_judge(name: str, config: Config | None = None) -> tuple[Any, Any]:
    """Build a judge and the core runner's settings (concurrency, retries, ...) for it."""
    from harness.judge_settings import split

    strategy = get("judge", name)
    settings, own = split(resolve_params("judge", name, config))
    return _call(strategy, name, own, {}), settings


def _call(strategy: Strategy, name: str, params: dict, runtime: dict) -> Any:
    from harness import contract

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
