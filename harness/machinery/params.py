"""The type of each strategy parameter, read from its factory, and the check of a value against it.

A parameter's type comes, in order, from

1. the factory's ``__param_types__`` (``{name: annotation}``), where a factory documents
   several forms that its signature does not say (e.g. ``{"p": str | int}``);
2. its annotation, when it is a ``Literal[...]`` (choices) or a union (``str | float``,
   ``Literal["exclude"] | float``, ``float | None``): the forms it lists;
3. its annotation when it is a plain ``int``, ``float``, ``bool``, ``str`` or a list
   (``list[str]``, ``tuple[...]``; ``Sequence[str]`` also takes a string);
4. else the type of its default (``int``, ``float``, ``bool``, ``str``, a list or tuple).

An int is accepted where a float is; a bool is never taken for a number. A parameter
without a default (``"<required>"``) or whose default is ``None`` is checked only when its
annotation lists its forms (a ``Literal`` or a union); anything else, and an annotation the
core cannot read (a class such as ``Path``), accepts any value.
"""

from __future__ import annotations

import collections.abc
import functools
import inspect
import sys
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any

from harness.machinery.kinds import REQUIRED  # the default shown for a parameter without one

_ORDER = ("int", "float", "bool", "str", "list", "none")
_FORMS = {"int": "an integer", "float": "a number", "bool": "true or false", "str": "a string",
          "list": "a list such as [\"a\", \"b\"]", "none": "unset"}
_SEQUENCES = {list, tuple, collections.abc.Sequence, collections.abc.MutableSequence}


class ParamType:
    """What values a parameter takes: basic types and/or choices; ``any`` takes everything.

    ``forms``: the annotation listed several forms (a Literal or a union). A plain class,
    not attrs: `harness list` must start fast."""

    __slots__ = ("basic", "choices", "any", "forms")

    def __init__(self, basic: frozenset[str] = frozenset(), choices: tuple[Any, ...] = (),
                 any: bool = False, forms: bool = False) -> None:  # noqa: A002
        self.basic, self.choices, self.any, self.forms = frozenset(basic), tuple(choices), any, forms

    def _key(self) -> tuple[Any, ...]:
        return (self.basic, self.choices, self.any, self.forms)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ParamType) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash((self.basic, self.any, self.forms))

    def __repr__(self) -> str:
        return f"ParamType({self.describe() or 'any'})"

    def with_forms(self) -> ParamType:
        return ParamType(self.basic, self.choices, self.any, forms=True)

    def accepts(self, value: Any) -> bool:
        if self.any:
            return True
        if any(_same(value, choice) for choice in self.choices):
            return True
        if value is None:
            return "none" in self.basic
        if isinstance(value, bool):
            return "bool" in self.basic
        if isinstance(value, int):
            return bool({"int", "float"} & self.basic)
        if isinstance(value, float):
            return "float" in self.basic
        if isinstance(value, str):
            return "str" in self.basic
        if isinstance(value, (list, tuple)):
            return "list" in self.basic
        return False

    def describe(self) -> str:
        """``int``, ``str | bool``, ``'mean_prob' | 'min'``; ``""`` for a parameter that takes anything."""
        if self.any:
            return ""
        parts = [repr(c) for c in self.choices]
        parts += ["None" if b == "none" else b for b in _ORDER if b in self.basic]
        return " | ".join(parts)

    def form(self) -> str:
        """The valid form in words, for an error message."""
        parts = []
        if self.choices:
            parts.append("one of " + ", ".join(repr(c) for c in self.choices))
        basic = self.basic - {"int"} if "float" in self.basic else self.basic
        parts += [_FORMS[b] for b in _ORDER if b in basic and b != "none"]
        return " or ".join(parts) or "unset"

    def __or__(self, other: ParamType) -> ParamType:
        if self.any or other.any:
            return ANY
        return ParamType(self.basic | other.basic, self.choices + other.choices, forms=True)


ANY = ParamType(any=True)


def _same(value: Any, choice: Any) -> bool:
    if isinstance(value, bool) or isinstance(choice, bool):
        return value is choice
    if isinstance(choice, (int, float)) and isinstance(value, (int, float)):
        return value == choice
    return type(value) is type(choice) and value == choice


def of_default(default: Any) -> ParamType:
    if isinstance(default, bool):
        return ParamType(frozenset({"bool"}))
    if isinstance(default, int):
        return ParamType(frozenset({"int"}))
    if isinstance(default, float):
        return ParamType(frozenset({"float"}))
    if isinstance(default, str):
        return ParamType(frozenset({"str"}))
    if isinstance(default, (list, tuple)):
        return ParamType(frozenset({"list"}))
    return ANY


def of_annotation(annotation: Any) -> ParamType | None:
    """The type an (evaluated) annotation declares; None when it says nothing the core can check."""
    if annotation is None or annotation is type(None):
        return ParamType(frozenset({"none"}))
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        return ParamType(choices=tuple(typing.get_args(annotation)), forms=True)
    if origin is typing.Union or origin is types.UnionType:
        members = [of_annotation(a) for a in typing.get_args(annotation)]
        if any(m is None or m.any for m in members):
            return None
        result = members[0]
        for member in members[1:]:
            result = result | member
        return result.with_forms()
    if annotation in (int, float, bool, str):
        return ParamType(frozenset({annotation.__name__}))
    if annotation in _SEQUENCES or origin in _SEQUENCES:
        is_abstract = (origin or annotation) in (collections.abc.Sequence, collections.abc.MutableSequence)
        return ParamType(frozenset({"list", "str"} if is_abstract else {"list"}))
    return None


_SIMPLE = {"int": int, "float": float, "bool": bool, "str": str, "None": None}


@functools.lru_cache(maxsize=512)
def _compiled(text: str) -> Any:
    return compile(text, "<annotation>", "eval")


def _evaluate(annotation: Any, namespace: dict[str, Any]) -> Any:
    """An annotation, evaluated where it is a string (``from __future__ import annotations``);
    ``inspect.Parameter.empty`` when it cannot be."""
    if not isinstance(annotation, str):
        return annotation
    if annotation in _SIMPLE:
        return _SIMPLE[annotation]
    try:
        return eval(_compiled(annotation), namespace)  # noqa: S307 (the plugin's own code)
    except Exception:
        return inspect.Parameter.empty


def _namespace(factory: Callable[..., Any]) -> dict[str, Any]:
    """Where the factory's annotations are evaluated: its module's globals, plus ``typing``."""
    target = inspect.unwrap(getattr(factory, "func", factory))  # functools.partial
    if isinstance(target, type):
        target = getattr(target, "__init__", target)
    module = sys.modules.get(getattr(target, "__module__", "") or "")
    found = getattr(target, "__globals__", None) or (vars(module) if module else {})
    return {"typing": typing, **found}


def parameter_type(annotation: Any, default: Any) -> ParamType:
    """The type of one parameter from its evaluated annotation and its default."""
    declared = None if annotation is inspect.Parameter.empty else of_annotation(annotation)
    if (isinstance(default, str) and default == REQUIRED) or default is None:
        if declared is not None and declared.forms:
            return declared | ParamType(frozenset({"none"})) if default is None else declared
        return ANY
    from_default = of_default(default)
    if declared is None or declared.any:
        return from_default
    if declared.accepts(default):
        return declared
    return declared | from_default  # an annotation its own default contradicts: take both


def parameter_types(
    factory: Callable[..., Any], parameters: Mapping[str, inspect.Parameter]
) -> dict[str, ParamType]:
    """The type of each of ``parameters`` (the factory's registry parameters)."""
    declared: Mapping[str, Any] = getattr(factory, "__param_types__", None) or {}
    namespace = _namespace(factory)
    out: dict[str, ParamType] = {}
    for name, p in parameters.items():
        default = REQUIRED if p.default is inspect.Parameter.empty else p.default
        if name in declared:
            annotation = _evaluate(declared[name], namespace)
            if isinstance(annotation, ParamType):
                out[name] = annotation
                continue
            declared_type = of_annotation(annotation) if annotation is not inspect.Parameter.empty else None
            out[name] = ANY if declared_type is None else declared_type.with_forms()
            continue
        out[name] = parameter_type(_evaluate(p.annotation, namespace), default)
    return out
