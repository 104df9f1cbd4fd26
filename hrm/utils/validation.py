"""Settings checked as data, wherever they come from: a config, the command line, or a checkpoint's saved
hyper-parameters (which a stranger may have written).

Each group of settings is a dataclass (`ACTConfig`, `HRMConfig`, ...): its field annotations say the
types, its `__post_init__` the ranges (with the helpers below). `build_config` checks the names and
types of a mapping against it, then builds it; every problem is one `UserError` line naming the setting,
e.g. `model.net.num_heads=0: must be at least 1`.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
import types
import typing
from collections.abc import Mapping
from typing import Any, Callable, TypeVar

from hrm.errors import UserError

T = TypeVar("T")


class InvalidSetting(ValueError):
    """Raised by a config's `__post_init__`: `field` is out of range; `build_config` names where it came from."""

    def __init__(self, field: str, value: Any, problem: str):
        super().__init__(f"{field}={value!r}: {problem}")
        self.field, self.value, self.problem = field, value, problem


# --- range checks for __post_init__ -----------------------------------------------------------------
def at_least(config: Any, minimum: float, *names: str) -> None:
    for name in names:
        value = getattr(config, name)
        if value is not None and value < minimum:
            raise InvalidSetting(name, value, f"must be at least {minimum}")


def at_most(config: Any, maximum: float, *names: str) -> None:
    for name in names:
        value = getattr(config, name)
        if value is not None and value > maximum:
            raise InvalidSetting(name, value, f"must be at most {maximum}")


def positive(config: Any, *names: str) -> None:
    for name in names:
        value = getattr(config, name)
        if value is not None and not value > 0:
            raise InvalidSetting(name, value, "must be above 0")


def between(config: Any, low: float, high: float, *names: str) -> None:
    for name in names:
        value = getattr(config, name)
        if value is not None and not low <= value <= high:
            raise InvalidSetting(name, value, f"must be between {low} and {high}")


def one_of(config: Any, name: str, choices: tuple) -> None:
    value = getattr(config, name)
    if value not in choices:
        raise InvalidSetting(name, value, f"must be one of {', '.join(map(repr, choices))}")


# --- types --------------------------------------------------------------------------------------------
def describe_type(hint: Any) -> str:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(describe_type(a) for a in args)
    if hint is type(None):
        return "null"
    if origin in (list, tuple):
        return f"a list of {describe_type(args[0])}" if args else "a list"
    if origin is dict or hint is dict:
        return "a mapping"
    names = {bool: "true/false", int: "an integer", float: "a number", str: "a string"}
    return names.get(hint, getattr(hint, "__name__", str(hint)))


def matches(value: Any, hint: Any) -> bool:
    """Whether a plain value (as YAML, JSON or a checkpoint holds it) fits a type annotation."""
    if hint is Any:
        return True
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return any(matches(value, a) for a in args)
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if hint is str:
        return isinstance(value, str)
    if origin in (list, tuple) or hint in (list, tuple):
        if not isinstance(value, (list, tuple)):
            return False
        element = args[0] if args else Any
        return all(matches(v, element) for v in value)
    if origin is dict or hint is dict:
        return isinstance(value, Mapping) and all(isinstance(k, str) for k in value)
    return isinstance(value, hint) if isinstance(hint, type) else True


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def check_types(hints: Mapping[str, Any], values: Any, where: str, open_ended: bool = False) -> dict:
    """`values` as a dict, after checking it is a mapping whose names are in `hints` (unless `open_ended`)
    and whose values fit them."""
    if not isinstance(values, Mapping):
        raise UserError(f"{where}: expected a mapping of settings, got {type(values).__name__} {_shown(values)}")
    values = dict(values)
    for key, value in values.items():
        if not isinstance(key, str):
            raise UserError(f"{where}: setting names must be strings, got {_shown(key)}")
        if key not in hints:
            if open_ended:
                continue
            known = ", ".join(sorted(hints))
            raise UserError(f"{where}.{key}: unknown setting (known: {known})")
        if not matches(value, hints[key]):
            raise UserError(f"{where}.{key}: expected {describe_type(hints[key])}, got {_shown(value)}")
    return values


def field_types(cls: type) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def build_config(cls: type[T], values: Any, where: str, error: type[UserError] = UserError) -> T:
    """`cls(**values)` after checking names and types; a range problem from `__post_init__` becomes one line
    naming `where` (e.g. "model.act") and the setting. `values` None: the defaults."""
    values = {} if values is None else values
    try:
        values = check_types(field_types(cls), values, where)
        missing = [f.name for f in dataclasses.fields(cls) if f.name not in values
                   and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
        if missing:
            raise UserError(f"{where}.{missing[0]}: missing")
        try:
            return cls(**values)
        except InvalidSetting as problem:
            raise UserError(f"{where}.{problem}") from None
        except (ValueError, TypeError) as problem:
            raise UserError(f"{where}: {problem}") from None
    except UserError as problem:
        raise error(str(problem)) from None


def parameter_types(cls: type) -> tuple[dict[str, Any], bool]:
    """The annotated parameters of `cls.__init__` along its bases (a `**kwargs` passes on to the base's),
    and whether it takes any name at all."""
    hints: dict[str, Any] = {}
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None or klass is object:
            continue
        signature = inspect.signature(init)
        resolved = typing.get_type_hints(init)
        for name, parameter in signature.parameters.items():
            if name != "self" and parameter.kind not in (parameter.VAR_KEYWORD, parameter.VAR_POSITIONAL):
                hints.setdefault(name, resolved.get(name, Any))
        if not any(p.kind == p.VAR_KEYWORD for p in signature.parameters.values()):
            return hints, False
    return hints, True


def check_arguments(cls: type, values: Any, where: str, error: type[UserError] = UserError) -> dict:
    """The keyword arguments `values` of `cls(...)`, checked by name and type against its signature."""
    hints, open_ended = parameter_types(cls)
    try:
        return check_types(hints, values, where, open_ended)
    except UserError as problem:
        raise error(str(problem)) from None


def converted(function: Callable[[], T], where: str, error: type[UserError] = UserError) -> T:
    """`function()`, with a UserError it raises prefixed by `where` and re-raised as `error`."""
    try:
        return function()
    except UserError as problem:
        raise error(f"{where}: {problem}") from None
