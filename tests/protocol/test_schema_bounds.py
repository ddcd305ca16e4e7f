"""Every value a method takes has a bound, in the schema rpc.discover publishes: numbers a
minimum and a maximum inside what storage holds (a 64-bit integer, a finite double),
strings a maxLength, lists a maxItems. A method added without them fails here."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import pytest

from protocol.api import declarations
from protocol.methods import LENIENT

INT64 = (-(2**63), 2**63 - 1)
PARAMS = {d.name: d.params for d in declarations()}


def places(schema: Any, path: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """(path, schema) of every sub-schema that describes a value, as published."""
    if not isinstance(schema, dict):
        return
    yield path, schema
    for name, sub in (schema.get("properties") or {}).items():
        yield from places(sub, f"{path}.{name}")
    if isinstance(schema.get("items"), dict):
        yield from places(schema["items"], f"{path}[]")
    if isinstance(schema.get("additionalProperties"), dict):
        yield from places(schema["additionalProperties"], f"{path}.*")
    for key in ("oneOf", "anyOf", "allOf"):
        for i, sub in enumerate(schema.get(key) or ()):
            yield from places(sub, f"{path}<{key}{i}>")


def types(schema: dict[str, Any]) -> set[str]:
    kind = schema.get("type")
    return set(kind) if isinstance(kind, list) else {kind} if isinstance(kind, str) else set()


def unbounded(schema: dict[str, Any]) -> list[str]:
    problems = []
    kinds = types(schema)
    if kinds & {"integer", "number"}:
        low, high = schema.get("minimum"), schema.get("maximum")
        if not isinstance(low, (int, float)) or not isinstance(high, (int, float)):
            problems.append("a number without minimum and maximum")
        elif not (math.isfinite(low) and math.isfinite(high) and INT64[0] <= low <= high <= INT64[1]):
            problems.append(f"a range {low}..{high} past a 64-bit integer")
    if "string" in kinds and not isinstance(schema.get("maxLength"), int):
        problems.append("a string without maxLength")
    if "array" in kinds and not isinstance(schema.get("maxItems"), int):
        problems.append("a list without maxItems")
    return problems


@pytest.mark.parametrize("name", sorted(PARAMS))
def test_every_value_of_every_method_has_a_bound(name: str) -> None:
    found = {path: unbounded(schema) for path, schema in places(PARAMS[name], name)}
    assert {path: problems for path, problems in found.items() if problems} == {}


def test_the_walk_sees_numbers_in_lists_and_alternatives() -> None:
    """The check itself: it finds an unbounded number wherever params may hold one."""
    schema = {"type": "object", "properties": {"a": {"type": "array", "maxItems": 3, "items": {
        "oneOf": [{"type": "string", "maxLength": 3}, {"type": "object", "properties": {"w": {"type": "number"}}}]}}}}
    found = {path: unbounded(s) for path, s in places(schema, "m") if unbounded(s)}
    assert found == {"m.a[]<oneOf1>.w": ["a number without minimum and maximum"]}
    assert LENIENT not in str(found)
