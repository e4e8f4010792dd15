"""The strategy registry: every task, backend, extractor, judge, metric, calibrator and trainer.

Plugins fill it through the hooks of ``harness.hookspecs``; each entry records its kind,
name, factory, the distribution that provided it, and its default parameters. Lookups
load the plugins first, so the registry is never empty by accident.
"""

from __future__ import annotations

import difflib
import functools
import inspect
from collections.abc import Callable
from typing import Any

import attrs

from harness import plugin_manager as plugins
from harness.config import Config
from harness.errors import DuplicateStrategyError, ParameterError, PluginLoadError, UnknownStrategyError
from harness.hookspecs import KINDS

REQUIRED = "<required>"
# Keyword arguments the core passes at run time; they are not registry parameters.
RUNTIME_ARGUMENTS = {"backend": ("model", "adapter")}


@attrs.frozen
class Strategy:
    kind: str
    name: str
    factory: Callable[..., Any]
    source: str  # the distribution that registered it
    plugin: str  # the plugin (entry point) that registered it

    def parameters(self) -> dict[str, Any] | None:
        """The factory's own keyword parameters and defaults (``None``: takes ``**kwargs``)."""
        return factory_parameters(self.kind, self.factory)

    def effective_parameters(self, config: Config | None = None) -> dict[str, Any]:
        config = config or Config.load()
        own = self.parameters()
        layered, _ = config.layered_params(self.kind, self.name, own)
        return {**(own or {}), **layered}

    def parameter_sources(self, config: Config) -> dict[str, str]:
        own = self.parameters() or {}
        _, sources = config.layered_params(self.kind, self.name, self.parameters())
        return {key: sources.get(key, "default") for key in {**own, **sources}}


def factory_parameters(kind: str, factory: Callable[..., Any]) -> dict[str, Any] | None:
    own = _own_parameters(kind, factory)
    if kind == "judge":  # the core's judge-runner settings are parameters of every judge
        from harness.judge_settings import DEFAULTS

        return None if own is None else {**DEFAULTS, **own}
    return own


def _own_parameters(kind: str, factory: Callable[..., Any]) -> dict[str, Any] | None:
    try:
        signature = inspect.signature(factory)
    except (TypeError, ValueError):
        return None
    params = list(signature.parameters.values())
    if kind == "metric":
        params = params[2:]  # (confidence, correct, **params)
    skip = set(RUNTIME_ARGUMENTS.get(kind, ()))
    result: dict[str, Any] = {}
    for p in params:
        if p.kind is inspect.Parameter.VAR_KEYWORD:
            return None
        if p.kind is inspect.Parameter.VAR_POSITIONAL or p.name in skip or p.name == "self":
            continue
        result[p.name] = REQUIRED if p.default is inspect.Parameter.empty else p.default
    return result


_cache: dict[str, dict[str, Strategy]] | None = None


def reset_cache() -> None:
    global _cache
    _cache = None


def _collect() -> dict[str, dict[str, Strategy]]:
    global _cache
    if _cache is not None:
        return _cache
    pm = plugins.load_plugins()
    table: dict[str, dict[str, Strategy]] = {kind: {} for kind in KINDS}
    failed: set[str] = set()
    for kind, hook_name in KINDS.items():
        hook = getattr(pm.hook, hook_name)
        for impl in hook.get_hookimpls():  # registration order (pluggy calls them in reverse)
            if impl.plugin_name in failed:
                continue
            added = _run_hook(impl, kind, table)
            if added is None:
                failed.add(impl.plugin_name)
    for kind in table:  # a plugin whose hook raised contributes nothing at all
        table[kind] = {n: s for n, s in table[kind].items() if s.plugin not in failed}
    _cache = table
    return table


def _run_hook(impl: Any, kind: str, table: dict[str, dict[str, Strategy]]) -> list[str] | None:
    """Call one plugin's hook; the names it registered, or ``None`` when the hook raised
    (the plugin is then recorded as broken). Duplicates are always an error."""
    source = plugins.distribution_of(impl.plugin_name)
    plugin = impl.plugin_name
    added: list[str] = []

    def register(name: str, factory: Callable[..., Any]) -> None:
        if not isinstance(name, str) or not name:
            raise PluginLoadError(f"plugin {plugin}: a {kind} name must be a non-empty string")
        if not callable(factory):
            raise PluginLoadError(f"plugin {plugin}: the factory of {kind} {name!r} is not callable")
        existing = table[kind].get(name)
        if existing is not None:
            raise DuplicateStrategyError(
                f"{kind} {name!r} is registered twice: by {existing.source} "
                f"({existing.plugin}) and by {source} ({plugin})"
            )
        table[kind][name] = Strategy(kind, name, factory, source, plugin)
        added.append(name)

    try:
        impl.function(register=register)
    except DuplicateStrategyError:
        raise
    except Exception as exc:  # a plugin's bug must not break the harness
        for name in added:
            table[kind].pop(name, None)
        plugins.mark_broken(plugin, f"{KINDS[kind]} raised {type(exc).__name__}: {exc}")
        return None
    return added


def strategies(kind: str | None = None) -> list[Strategy]:
    table = _collect()
    kinds = [kind] if kind else list(KINDS)
    for k in kinds:
        _check_kind(k)
    return [s for k in kinds for s in sorted(table[k].values(), key=lambda s: s.name)]


def names(kind: str) -> list[str]:
    return [s.name for s in strategies(kind)]


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise UnknownStrategyError(f"unknown kind {kind!r}; kinds: {', '.join(KINDS)}")


def get(kind: str, name: str) -> Strategy:
    """The strategy ``name`` of ``kind``, or an error listing the known names."""
    _check_kind(kind)
    table = _collect()
    if name in table[kind]:
        return table[kind][name]
    known = sorted(table[kind])
    close = difflib.get_close_matches(name, known, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    broken = plugins.broken_plugins()
    note = ""
    if broken:
        note = "; plugins that failed to load: " + "; ".join(
            f"{b.distribution} ({b.name}): {b.error}" for b in broken
        )
    raise UnknownStrategyError(
        f"unknown {kind} {name!r}; known: {', '.join(known) or '(none)'}{hint}{note}"
    )


def resolve_params(kind: str, name: str, config: Config | None = None) -> dict[str, Any]:
    """Effective parameters of a strategy; a required parameter left unset is an error."""
    strategy = get(kind, name)
    params = strategy.effective_parameters(config)
    missing = [k for k, v in params.items() if isinstance(v, str) and v == REQUIRED]
    if missing:
        raise ParameterError(
            f"{kind} {name!r} needs parameter(s) {', '.join(missing)} "
            f"(set them with -p {kind}.{missing[0]}=...)"
        )
    return params


def create(kind: str, name: str, config: Config | None = None, **runtime: Any) -> Any:
    """Build a strategy with its effective parameters (metrics: a bound function)."""
    strategy = get(kind, name)
    params = resolve_params(kind, name, config)
    if kind == "metric":
        return functools.partial(strategy.factory, **params)
    if kind == "judge":
        raise ParameterError("use registry.create_judge() for judges")
    return _call(kind, name, strategy.factory, params, runtime)


def create_judge(name: str, config: Config | None = None) -> tuple[Any, Any]:
    """Build a judge and the core runner's settings (concurrency, retries, ...) for it."""
    from harness.judge_settings import split

    strategy = get("judge", name)
    settings, own = split(resolve_params("judge", name, config))
    return _call("judge", name, strategy.factory, own, {}), settings


def _call(kind: str, name: str, factory: Callable[..., Any], params: dict, runtime: dict) -> Any:
    try:
        return factory(**params, **runtime)
    except TypeError as exc:
        if "unexpected keyword" in str(exc) or "required" in str(exc):
            raise ParameterError(f"{kind} {name!r}: {exc}") from None
        raise
