"""The one table of strategy kinds: everything the core knows about a kind, in one row.

Each row says which hook registers the kind, how its factory is called (which leading
positional arguments and run-time keywords are not parameters), which members the built
object must have (a subset of its ``typing.Protocol`` in ``harness.strategies``, checked by
``create()``), and which extra settings the core adds to its parameters (the judge runner's).
``harness list``, the CLI's choices, the config's table names, the hook list and ``create()``
all read this table, so a new kind is one row here plus its hook in ``harness.machinery.hookspecs``.

This module imports nothing from the rest of the harness (it is a leaf of the import graph),
and nothing that is slow to import.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, NamedTuple

# The default shown for a parameter the factory declares without one.
REQUIRED = "<required>"


class Kind(NamedTuple):  # a NamedTuple, not attrs: `harness --help` imports this module
    name: str  # "metric"
    hook: str  # "register_metrics"
    builds: str  # what the factory is called with and gives back (docs, `harness list`)
    protocol: str | None = None  # its Protocol in harness.strategies (None: a plain function)
    methods: tuple[str, ...] = ()  # callables the built object must have
    attributes: tuple[str, ...] = ()  # plain attributes it must have
    leading: int = 0  # leading positional arguments that are data, not parameters
    runtime: tuple[str, ...] = ()  # keywords the core passes at run time, not parameters
    settings: str | None = None  # "module:Class" of core settings that are parameters of the kind
    builds_object: bool = True  # False: the factory itself is the strategy (a metric function)

    @property
    def members(self) -> tuple[str, ...]:
        return self.methods + self.attributes

    def signature_parameters(self, factory: Callable[..., Any]) -> dict[str, inspect.Parameter] | None:
        """The factory's parameters that are strategy parameters (``None``: it takes ``**kwargs``).

        A factory whose ``**kwargs`` takes a declared set of parameters (several strategies sharing
        one declaration) names them in ``__keyword_params__`` (``{name: inspect.Parameter}``): they
        are its parameters as if written in its signature."""
        try:
            signature = inspect.signature(factory)
        except (TypeError, ValueError):
            return None
        result: dict[str, inspect.Parameter] = {}
        for p in list(signature.parameters.values())[self.leading:]:
            if p.kind is inspect.Parameter.VAR_KEYWORD:
                declared = getattr(factory, "__keyword_params__", None)
                if declared is None:
                    return None
                result.update(declared)
                continue
            if p.kind is inspect.Parameter.VAR_POSITIONAL or p.name in self.runtime or p.name == "self":
                continue
            result[p.name] = p
        return result

    def settings_class(self) -> type | None:
        """The class of the core's settings for this kind (imported when first asked for)."""
        if self.settings is None:
            return None
        import importlib

        module, _, name = self.settings.partition(":")
        return getattr(importlib.import_module(module), name)

    def settings_defaults(self) -> dict[str, Any]:
        """The core settings' names and defaults (``{}`` for a kind without settings)."""
        import attrs

        settings = self.settings_class()
        return {} if settings is None else {a.name: a.default for a in attrs.fields(settings)}

    def split_settings(self, params: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
        """The core's settings built from ``params`` (``None`` for a kind without settings), and
        the parameters left for the strategy's own factory."""
        settings = self.settings_class()
        names = self.settings_defaults()
        own = {k: v for k, v in params.items() if k not in names}
        built = None if settings is None else settings(**{k: v for k, v in params.items() if k in names})
        return built, own


KINDS: dict[str, Kind] = {k.name: k for k in (
    Kind("task", "register_tasks", "factory(**params) -> object with examples()",
         protocol="Task", methods=("examples",)),
    Kind("backend", "register_backends",
         "factory(model=..., adapter=..., **params) -> object with generate(requests)",
         protocol="Backend", methods=("generate",), attributes=("model_path",), runtime=("model", "adapter")),
    Kind("extractor", "register_extractors", "factory(**params) -> object with prompt, stop, extract",
         protocol="Extractor", methods=("prompt", "extract"), attributes=("stop",)),
    Kind("judge", "register_judges", "factory(**params) -> object with async grade(example, prediction)",
         protocol="Judge", methods=("grade",), attributes=("name", "model", "prompt_version"),
         settings="harness.judging.settings:JudgeSettings"),
    Kind("metric", "register_metrics", "fn(confidence, correct, **params) -> float",
         leading=2, builds_object=False),
    Kind("calibrator", "register_calibrators",
         "factory(**params) -> object with fit(confidence, correct), __call__(confidence), fitted()",
         protocol="Calibrator", methods=("fit", "__call__", "fitted")),
    Kind("trainer", "register_trainers",
         "factory(**params) -> object with train(model, records, out_dir, extractor)",
         protocol="Trainer", methods=("train",), attributes=("extractor",)),
)}

HOOKS: tuple[str, ...] = tuple(k.hook for k in KINDS.values())
