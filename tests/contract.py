"""`isinstance(x, SomeProtocol)` only checks that the method names exist. `assert_implements` also
checks what a caller relies on: the same parameters (names, kinds, defaults), the same annotations and
`async def` where the protocol has it."""

from __future__ import annotations

import inspect
from typing import Any


def protocol_methods(protocol: type) -> list[str]:
    return sorted(
        name
        for name, value in vars(protocol).items()
        if not name.startswith("_") and (inspect.isfunction(value) or isinstance(value, property))
    )


def assert_implements(obj: Any, protocol: type) -> None:
    assert isinstance(obj, protocol)
    for name in protocol_methods(protocol):
        wanted = vars(protocol)[name]
        found = inspect.getattr_static(type(obj), name)
        if isinstance(wanted, property):
            assert isinstance(found, property) or not callable(found), f"{name} must be a property"
            continue
        assert inspect.iscoroutinefunction(found) == inspect.iscoroutinefunction(wanted), (
            f"{type(obj).__name__}.{name}: async-ness differs from {protocol.__name__}"
        )
        assert _shape(found) == _shape(wanted), (
            f"{type(obj).__name__}.{name}{inspect.signature(found)} does not match "
            f"{protocol.__name__}.{name}{inspect.signature(wanted)}"
        )


def _shape(function: Any) -> list[tuple[str, Any, Any, str]]:
    signature = inspect.signature(function)
    params = [(p.name, p.kind, p.default, _text(p.annotation)) for p in signature.parameters.values()]
    return [*params, ("return", None, None, _text(signature.return_annotation))]


def _text(annotation: Any) -> str:
    return annotation if isinstance(annotation, str) else inspect.formatannotation(annotation)
