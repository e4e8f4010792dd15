"""Effective parameters of every strategy, from four layers.

Precedence, lowest first: the factory's own keyword defaults, the shipped
``registry.toml``, optional extra layers (a model's profile), the user's ``--config``
file, and ``-p kind.key=value`` / ``-p kind.name.key=value`` overrides. The tables of
settings that are no strategy's (``OTHER_SECTIONS``: ``[criteria]``, ``[report]``) merge the
same layers, then ``-p section.key=value`` (``Config.section``).

Within one layer, the keys of a kind's own table (``[trainer] lora_r = 16``: shared by every
strategy of the kind that takes the key, the others skip it) come before its strategy's table
(``[trainer.ptrue_tuning] lora_r = 8``), so a strategy's own value beats the shared one of its
layer, and any key of a higher layer beats both of a lower one (``[trainer] epochs = 1`` in a
``--config`` file sets every trainer's epochs, though registry.toml gives ``rl`` its own).
Per parameter, lowest first: the factory's default; for each layer, ``[kind]`` then
``[kind.name]``; ``-p kind.key``; ``-p kind.name.key``. The shipped registry's ``[kind]``
keys apply only to the strategies it has a table for (the built-ins): a plugin's defaults
stay its own unless the user's file or ``-p`` says otherwise. A parameter the
factory does not accept is a ``ParameterError`` naming the valid ones. Among ``-p``
overrides, ``kind.name.key`` beats ``kind.key``; otherwise the last one given wins.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import attrs

from harness.errors import InputError, ParameterError
from harness.machinery.kinds import KINDS

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

STRATEGY_KINDS = tuple(KINDS)  # one table per kind: harness.machinery.kinds.KINDS
OTHER_SECTIONS = ("criteria", "report")  # plain tables of settings: -p section.key=value


def load_toml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if path.is_dir():
        raise InputError(f"{path}: is a directory, not a TOML file")
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{path}: not valid TOML ({exc})") from None
    except UnicodeDecodeError:
        raise InputError(f"{path}: not a UTF-8 text file") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror}") from None


def shipped_registry() -> dict[str, Any]:
    """The ``registry.toml`` that ships inside the package."""
    text = resources.files("harness").joinpath("registry.toml").read_text(encoding="utf-8")
    return tomllib.loads(text)


def parse_value(text: str) -> Any:
    """A ``-p`` value: any TOML value (``0.5``, ``true``, ``[1, 2]``), else a plain string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


@attrs.frozen
class Override:
    """One ``-p`` override: ``kind[.name].key = value``."""

    kind: str
    name: str | None
    key: str
    value: Any

    @classmethod
    def parse(cls, text: str) -> Override:
        target, sep, value = text.partition("=")
        parts = target.strip().split(".")
        if len(parts) > 3 and ":" in target:  # a qualified name whose distribution has dots
            parts = [parts[0], ".".join(parts[1:-1]), parts[-1]]
        if not sep or len(parts) not in (2, 3) or not all(parts):
            raise ParameterError(
                f"-p {text!r}: expected kind.key=value or kind.name.key=value"
            )
        kind = parts[0]
        if kind in OTHER_SECTIONS:  # a table of settings, not of strategies
            if len(parts) != 2:
                raise ParameterError(f"-p {text!r}: expected {kind}.key=value")
            return cls(kind=kind, name=None, key=parts[1], value=parse_value(value.strip()))
        if kind not in STRATEGY_KINDS:
            raise ParameterError(
                f"-p {text!r}: unknown kind {kind!r}; kinds: {', '.join(STRATEGY_KINDS + OTHER_SECTIONS)}"
            )
        name = parts[1] if len(parts) == 3 else None
        return cls(kind=kind, name=name, key=parts[-1], value=parse_value(value.strip()))

    def __str__(self) -> str:
        middle = f"{self.name}." if self.name else ""
        return f"-p {self.kind}.{middle}{self.key}"


@attrs.frozen
class Layer:
    """A named source of parameters, shaped like ``registry.toml``."""

    source: str
    data: Mapping[str, Any]
    #: whether the keys of ``[kind]`` apply to every strategy of the kind (a user's file, a
    #: profile) or only to those this layer has a ``[kind.name]`` table for (the shipped
    #: registry.toml: the built-ins, so that a plugin's own defaults stay its own)
    shared_to_all: bool = True

    def params(self, kind: str, name: str) -> dict[str, Any]:
        """The table ``[kind.name]``."""
        section = self.data.get(kind, {})
        table = section.get(name, {}) if isinstance(section, Mapping) else {}
        return dict(table) if isinstance(table, Mapping) else {}

    def shared(self, kind: str, names: Sequence[str] | None = None) -> dict[str, Any]:
        """The keys of ``[kind]`` itself (not its ``[kind.name]`` tables): defaults for the
        strategies of the kind that take them (registry.toml's ``[trainer]``: the LoRA and
        training keys all trainers share). Given the strategy's ``names``, nothing when this
        layer's shared keys are not for it (``shared_to_all``)."""
        section = self.data.get(kind, {})
        if not isinstance(section, Mapping):
            return {}
        if names is not None and not self.shared_to_all and not any(
                isinstance(section.get(n), Mapping) for n in names):
            return {}
        return {k: v for k, v in section.items() if not isinstance(v, Mapping)}


@attrs.frozen
class Config:
    """Every parameter layer of a run, lowest precedence first."""

    layers: tuple[Layer, ...] = ()
    overrides: tuple[Override, ...] = ()

    @classmethod
    def load(
        cls,
        user_file: str | Path | None = None,
        overrides: Iterable[str] = (),
        *,
        include_registry: bool = True,
    ) -> Config:
        layers = []
        if include_registry:
            layers.append(Layer("registry.toml", shipped_registry(), shared_to_all=False))
        if user_file is not None:
            data = load_toml(user_file)
            _check_sections(data, str(user_file))
            layers.append(Layer(str(user_file), data))
        return cls(tuple(layers), tuple(Override.parse(o) for o in overrides))

    def with_layer(self, layer: Layer) -> Config:
        """Insert a layer above the shipped registry but below the user's own file."""
        base = [x for x in self.layers if x.source == "registry.toml"]
        rest = [x for x in self.layers if x.source != "registry.toml"]
        return Config(tuple(base + [layer] + rest), self.overrides)

    def section(self, name: str) -> dict[str, Any]:
        """A non-strategy table (``criteria``, ``report``), merged over the layers, then its
        ``-p name.key=value`` overrides (the last one given wins)."""
        merged: dict[str, Any] = {}
        for layer in self.layers:
            table = layer.data.get(name, {})
            if isinstance(table, Mapping):
                merged.update(table)
        for override in self.overrides:
            if override.kind == name:
                merged[override.key] = override.value
        return merged

    def layered_params(
        self, kind: str, name: str | Sequence[str], accepted: Mapping[str, Any] | None
    ) -> tuple[dict[str, Any], dict[str, str]]:
        """Parameters set by the layers and overrides, and which source set each one.

        ``name`` may be several names of one strategy, lowest precedence first (the registry
        gives ``("ece", "calibration-harness:ece")``: a table or ``-p`` for either applies).
        ``accepted`` is the factory's parameter names (``None``: accepts any keyword).
        A name-specific key the factory does not accept is an error; a kind-wide ``-p``
        override that it does not accept is skipped (another strategy of the kind may).
        """
        names = (name,) if isinstance(name, str) else tuple(name)
        shown = names[0]
        params: dict[str, Any] = {}
        sources: dict[str, str] = {}
        for layer in self.layers:
            for key, value in layer.shared(kind, names).items():  # [kind]: below [kind.name] of its layer
                if accepted is None or key in accepted:  # a strategy that does not take it skips it
                    params[key] = value
                    sources[key] = layer.source
            for each in names:
                for key, value in layer.params(kind, each).items():
                    _check_accepted(kind, shown, key, accepted, f"{layer.source} [{kind}.{each}]")
                    params[key] = value
                    sources[key] = layer.source
        # A name-specific override beats a kind-wide one whatever their order on the line.
        ordered = sorted(self.overrides, key=lambda o: o.name is not None)
        for override in ordered:
            if override.kind != kind or (override.name is not None and override.name not in names):
                continue
            if override.name is None and accepted is not None and override.key not in accepted:
                continue
            _check_accepted(kind, shown, override.key, accepted, str(override))
            params[override.key] = override.value
            sources[override.key] = "-p"
        return params, sources

    def check_overrides(
        self,
        selected: Mapping[str, Iterable[tuple[str, Mapping[str, Any] | None]]],
        lookup: Callable[[str, str], object] | None = None,
    ) -> None:
        """Every kind-wide ``-p kind.key`` must be accepted by a selected strategy of that kind,
        and every ``-p kind.name.key`` must name a registered strategy: ``lookup(kind, name)``
        (the registry's ``get``) raises for an unknown one (a typo is an error). So must every
        shared key of a layer's ``[kind]`` table, where a strategy of that kind is selected."""
        selected = {kind: list(chosen) for kind, chosen in selected.items()}
        for layer in (x for x in self.layers if x.shared_to_all):  # the shipped one is tested
            for kind, chosen in selected.items():
                for key in layer.shared(kind):
                    if chosen and not any(acc is None or key in acc for _, acc in chosen):
                        valid = sorted({k for _, acc in chosen for k in (acc or {})})
                        raise ParameterError(
                            f"{layer.source} [{kind}]: {key!r} is a parameter of no selected {kind} "
                            f"({', '.join(n for n, _ in chosen)}); valid: {', '.join(valid) or '(none)'}")
        for override in self.overrides:
            if override.kind in OTHER_SECTIONS:  # checked by the section's reader
                continue
            if override.name is not None:
                if lookup is not None:
                    lookup(override.kind, override.name)
                continue
            chosen = list(selected.get(override.kind, ()))
            if not chosen:
                raise ParameterError(f"{override}: no {override.kind} is selected in this run")
            if any(acc is None or override.key in acc for _, acc in chosen):
                continue
            valid = sorted({k for _, acc in chosen for k in (acc or {})})
            names = ", ".join(n for n, _ in chosen)
            which = f"{override.kind} {names} has no" if len(chosen) == 1 else f"none of {names} has a"
            raise ParameterError(
                f"{override}: {which} parameter {override.key!r}; "
                f"valid: {', '.join(valid) or '(none)'}"
            )

    def describe(self) -> list[str]:
        return [layer.source for layer in self.layers] + [str(o) for o in self.overrides]


def _check_accepted(
    kind: str, name: str, key: str, accepted: Mapping[str, Any] | None, where: str
) -> None:
    if accepted is None or key in accepted:
        return
    valid = ", ".join(sorted(accepted)) or "(none)"
    raise ParameterError(f"{where}: {kind} {name!r} has no parameter {key!r}; valid: {valid}")


def _check_sections(data: Mapping[str, Any], source: str) -> None:
    for key, value in data.items():
        if key in OTHER_SECTIONS:
            continue
        if key not in STRATEGY_KINDS:
            allowed = ", ".join(STRATEGY_KINDS + OTHER_SECTIONS)
            raise ParameterError(f"{source}: unknown table [{key}]; expected one of: {allowed}")
        if not isinstance(value, Mapping):
            raise ParameterError(f"{source}: [{key}] must hold one table per name, like [{key}.NAME], "
                                 f"and the keys shared by every {key}")
