"""Integral doubles where a schema says integer: made ints before a handler sees them.

JSON Schema counts `5.0` as an integer, and so does fastjsonschema; JSON has one number
type, and many clients write `5.0` for 5. Handed on as a double, it met code that
expects an int: the catalog refused `year: 2001.0` that the published schema allows,
SQLite stores a REAL where an INTEGER goes, and asyncpg turns a double into a BIGINT
by truncating it, or, past 2^63, fails the whole statement (a batched write whole). So
after validation, every place the schema types `integer` that holds a double gets the
int it stands for, or -32602 naming the field when no 64-bit integer holds it (a second
line behind every integer's published maximum).

`compile_integral(schema)` walks `properties` and `items` (the shapes params schemas
use) and answers a function that fixes params in place, or None when the schema has no
integer place, which costs a method nothing.
"""

from __future__ import annotations

from typing import Any, Callable

from protocol import errors

__all__ = ["INT64_MAX", "INT64_MIN", "compile_integral"]

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1

Fix = Callable[[Any, str, "str | int"], Any]
"""(value, its parent's field path, its key or index) -> the value, fixed. The path is
only built when needed (an error, or a container to descend into)."""


def _is_integer_type(schema: dict[str, Any]) -> bool:
    kind = schema.get("type")
    return kind == "integer" or (isinstance(kind, list) and "integer" in kind)


def _field(parent: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{parent}[{key}]"
    return f"{parent}.{key}" if parent else key


def _integer(value: Any, parent: str, key: str | int) -> Any:
    if type(value) is not float:
        return value
    if not INT64_MIN <= value <= INT64_MAX:
        raise errors.invalid_params(_field(parent, key) or "params", "must be an integer from -2^63 to 2^63-1")
    return int(value)


def _compile(schema: Any) -> Fix | None:
    """The fix for values of `schema`, or None if nothing below it is an integer place."""
    if not isinstance(schema, dict):
        return None
    if _is_integer_type(schema):
        return _integer
    fixes: list[tuple[str, Fix]] = []
    for name, sub in (schema.get("properties") or {}).items():
        fix = _compile(sub)
        if fix is not None:
            fixes.append((name, fix))
    item_fix = _compile(schema.get("items"))
    if not fixes and item_fix is None:
        return None

    def container(value: Any, parent: str, key: str | int) -> Any:
        if type(value) is dict:
            path = None
            for name, fix in fixes:
                if name in value:
                    if fix is _integer:
                        child = value[name]
                        if type(child) is float:
                            value[name] = _integer(child, _field(parent, key), name)
                    else:
                        if path is None:
                            path = _field(parent, key)
                        value[name] = fix(value[name], path, name)
        elif type(value) is list and item_fix is not None:
            path = _field(parent, key)
            for i, item in enumerate(value):
                value[i] = item_fix(item, path, i)
        return value
    return container


def compile_integral(schema: dict[str, Any]) -> Callable[[Any], None] | None:
    """See the module docstring. The function raises `RpcError` (-32602) for a double
    no 64-bit integer holds."""
    fix = _compile(schema)
    if fix is None:
        return None

    def integral(params: Any) -> None:
        fix(params, "", "")
    return integral
