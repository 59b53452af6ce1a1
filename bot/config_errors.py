"""Turns a pydantic ValidationError into one line for the operator: the key, what it must be, what it got.

"'web.port' must be a whole number, got 'eighty' (str)", "unknown key 'web.prot' (did you mean
'web.port'?); known keys: …". Only the first problem is shown, like a compiler's first error.
"""

from __future__ import annotations

import difflib
import types
import typing
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

__all__ = ["ConfigError", "describe_validation_error", "known_keys", "type_name"]


class ConfigError(Exception):
    """A config file problem, phrased for the operator (names the file and the key)."""


def known_keys(model: type[BaseModel]) -> list[str]:
    """The keys a section accepts (fields excluded from serialisation, like `source`, are not keys)."""
    return sorted(name for name, f in model.model_fields.items() if not f.exclude)


def describe_validation_error(exc: ValidationError, model: type[BaseModel], raw: Any) -> str:
    error = exc.errors(include_url=False)[0]
    loc = error["loc"]
    kind = error["type"]
    value = error.get("input")
    key, field, annotation, parent = _walk(model, loc)
    if kind == "extra_forbidden" and parent is not None:
        prefix = key.rsplit(".", 1)[0] + "." if "." in key else ""
        names = known_keys(parent)
        suggestion = difflib.get_close_matches(str(loc[-1]), names, n=1)
        hint = f" (did you mean '{prefix}{suggestion[0]}'?)" if suggestion else ""
        return f"unknown key '{key}'{hint}; known keys: {', '.join(names)}"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return f"'{key}' must be a mapping of keys, got {describe(value)}"
    if kind == "config_value":
        return f"'{key}' {error['msg']}"
    bounds = _bounds(field)
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        low, high = bounds
        if (low, high) == (0, 65535):
            return f"'{key}' must be a TCP port from 1 to 65535, or 0 for any free port (got {value})"
        if low is not None and high is not None:
            return f"'{key}' must be from {low} to {high} (got {value})"
        if kind == "greater_than" and error["ctx"]["gt"] == 0:
            return f"'{key}' must be greater than zero (got {value})"
        if kind == "greater_than_equal" and error["ctx"]["ge"] == 0:
            return f"'{key}' must be zero or more (got {value})"
        return f"'{key}' {error['msg'].lower()} (got {value})"
    if kind == "literal_error":
        choices = ", ".join(map(str, typing.get_args(_strip_optional(annotation))))
        return f"'{key}' must be one of {choices}, got {describe(value)}"
    if annotation is not None:
        return f"'{key}' must be {type_name(annotation)}, got {describe(value)}"
    return f"'{key}': {error['msg']}"


def _walk(
    model: type[BaseModel], loc: tuple[Any, ...]
) -> tuple[str, FieldInfo | None, Any, type[BaseModel] | None]:
    """(dotted key, field, annotation, section that owns the last key) for an error location."""
    key = ""
    current: Any = model
    field: FieldInfo | None = None
    parent: type[BaseModel] | None = None
    for part in loc:
        target = _strip_optional(current)
        if isinstance(part, int):
            key += f"[{part}]"
            args = typing.get_args(target)
            current = args[0] if args else None
            field = None
            continue
        if isinstance(target, type) and issubclass(target, BaseModel):
            parent = target
            key = f"{key}.{part}" if key else str(part)
            field = target.model_fields.get(str(part))
            current = field.annotation if field is not None else None
        else:
            break  # a tag pydantic adds inside unions: the key is complete
    return key, field, current, parent


def _bounds(field: FieldInfo | None) -> tuple[Any, Any]:
    low = high = None
    for item in field.metadata if field is not None else ():
        low = getattr(item, "ge", None) if getattr(item, "ge", None) is not None else low
        high = getattr(item, "le", None) if getattr(item, "le", None) is not None else high
    return low, high


def _strip_optional(tp: Any) -> Any:
    if typing.get_origin(tp) in (types.UnionType, typing.Union):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return tp


def type_name(tp: Any) -> str:
    """How the reference and the errors name a type: "a whole number", "a list of text", …"""
    if tp is type(None):
        return "null"
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return "a mapping"
    origin = typing.get_origin(tp)
    if origin in (types.UnionType, typing.Union):
        return " or ".join(type_name(a) for a in typing.get_args(tp))
    if origin is list:
        return f"a list of {type_name(typing.get_args(tp)[0])}"
    if origin is typing.Literal:
        return "one of " + ", ".join(map(str, typing.get_args(tp)))
    if origin is typing.Annotated:
        return type_name(typing.get_args(tp)[0])
    names = {bool: "true/false", int: "a whole number", float: "a number", str: "text"}
    return names.get(tp, getattr(tp, "__name__", str(tp)))


def describe(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"{str(value).lower()} (true/false)"
    if isinstance(value, (dict, list)):
        return "a mapping" if isinstance(value, dict) else "a list"
    text = repr(value)
    return f"{text[:40]}… ({type(value).__name__})" if len(text) > 40 else f"{text} ({type(value).__name__})"
