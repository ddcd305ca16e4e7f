"""The quick yes in front of fastjsonschema: it never accepts what the schema refuses,
and it does say yes to plainly valid params (or it would only add cost)."""

from __future__ import annotations

import copy
from typing import Any

import fastjsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol.accept import compile_accept

ASSIGN = {
    "type": "object",
    "properties": {
        "experiment_id": {"type": "string", "minLength": 1, "maxLength": 128},
        "user_id": {"type": "string", "minLength": 1, "maxLength": 256, "description": "defaults to the caller"},
    },
    "required": ["experiment_id"],
    "additionalProperties": False,
}
EMPTY = {"type": "object", "properties": {}, "additionalProperties": False}
MIXED = {
    "type": "object",
    "properties": {
        "page": {"type": "integer", "minimum": 1, "maximum": 1000},
        "rating": {"type": "number", "minimum": 0, "maximum": 10},
        "kind": {"enum": ["movie", "series"]},
        "flag": {"type": "boolean"},
        "name": {"type": "string", "maxLength": 3},
    },
    "required": ["page", "kind"],
    "additionalProperties": False,
}
OPEN = {"type": "object", "properties": {"id": {"type": "string"}}, "required": ["id"]}
SCHEMAS = [ASSIGN, EMPTY, MIXED, OPEN]

# Values around every limit the schemas above set, and of every JSON kind.
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.sampled_from([0, 1, 1000, 1001, -1]),
    st.floats(allow_nan=False), st.sampled_from([0.0, 1.0, 10.0, 10.5, -0.5, 1e-300]),
    st.text(max_size=8), st.sampled_from(["movie", "series", "\x00", "é" * 4]),
    st.sampled_from([0, 1, 3, 4, 128, 129, 256, 257]).map(lambda n: "x" * n),
)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
                      max_leaves=5)


def near(prop: dict) -> st.SearchStrategy[Any]:
    """Values at and just past a property's limits, and of neighbouring types."""
    out: list[Any] = [True, False, 0, 1, 1.0, "", None]
    for key in ("minLength", "maxLength"):
        if key in prop:
            out += ["x" * (prop[key] - 1), "x" * prop[key], "x" * (prop[key] + 1)]
    for key in ("minimum", "maximum"):
        if key in prop:
            n = prop[key]
            out += [n - 1, n, n + 1, float(n), n - 0.5, n + 0.5]
    out += [*prop.get("enum", []), "zzz"]
    return st.one_of(st.sampled_from(out), st.sampled_from(out), st.sampled_from(out), values)


def params_for(schema: dict) -> st.SearchStrategy[Any]:
    """Mostly objects with the schema's keys (required ones usually present), some
    with a key it does not know, some not objects at all."""
    props = schema["properties"]
    required = [k for k in props if k in schema.get("required", [])]
    shaped = st.fixed_dictionaries({k: near(props[k]) for k in required},
                                   optional={**{k: near(p) for k, p in props.items() if k not in required},
                                             "extra": values})
    return st.one_of(shaped, shaped, shaped, st.dictionaries(st.sampled_from([*props, "extra"]), values), values)


@pytest.mark.parametrize("schema", SCHEMAS, ids=["assign", "empty", "mixed", "open"])
@settings(max_examples=1000, deadline=None)
@given(data=st.data())
def test_a_yes_is_always_a_yes_of_fastjsonschema(data: st.DataObject, schema: dict) -> None:
    accept = compile_accept(schema)
    assert accept is not None
    value = data.draw(params_for(schema))
    if accept(value):
        before = copy.deepcopy(value)
        fastjsonschema.compile(schema)(value)  # raises if the quick check was wrong
        assert value == before


@pytest.mark.parametrize(("schema", "data"), [
    (ASSIGN, {"experiment_id": "checkout-button", "user_id": "u-1"}),
    (ASSIGN, {"experiment_id": "e"}),
    (EMPTY, {}),
    (MIXED, {"page": 1, "kind": "movie", "rating": 9.5, "flag": False, "name": "abc"}),
    (MIXED, {"page": 1000, "kind": "series", "rating": 0}),
    (OPEN, {"id": "x", "anything": [1, 2]}),
])
def test_plainly_valid_params_get_a_quick_yes(schema: dict, data: Any) -> None:
    accept = compile_accept(schema)
    assert accept is not None and accept(data)


@pytest.mark.parametrize(("schema", "data"), [
    (ASSIGN, {}),
    (ASSIGN, {"experiment_id": ""}),
    (ASSIGN, {"experiment_id": "e", "user_id": 5}),
    (ASSIGN, {"experiment_id": "e", "other": 1}),
    (ASSIGN, {"experiment_id": "e" * 129}),
    (ASSIGN, ["checkout-button"]),
    (EMPTY, {"x": 1}),
    (MIXED, {"page": True, "kind": "movie"}),
    (MIXED, {"page": 0, "kind": "movie"}),
    (MIXED, {"page": 1.0, "kind": "movie"}),
    (MIXED, {"page": 1, "kind": "film"}),
    (MIXED, {"page": 1, "kind": "movie", "rating": 10.01}),
    (MIXED, {"page": 1, "kind": "movie", "flag": 0}),
    (MIXED, {"page": 1, "kind": "movie", "name": None}),
])
def test_anything_else_is_left_to_fastjsonschema(schema: dict, data: Any) -> None:
    accept = compile_accept(schema)
    assert accept is not None and not accept(data)


@pytest.mark.parametrize("schema", [
    {"type": "object", "properties": {"active": {"type": "boolean", "default": True}}},  # fills defaults
    {"type": "object", "properties": {"at": {"type": "string", "format": "date-time"}}},
    {"type": "object", "properties": {"at": {"type": ["string", "null"]}}},
    {"type": "object", "properties": {"items": {"type": "array", "items": {"type": "string"}}}},
    {"type": "object", "properties": {"n": {"type": "integer", "exclusiveMinimum": 0}}},
    {"type": "object", "properties": {"n": {"enum": [1, 2]}}},
    {"type": "object", "properties": {}, "additionalProperties": {"type": "string"}},
    {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["b"]},
    {"type": "array"},
    {"type": "object", "properties": {"a": {"type": "string"}}, "oneOf": []},
])
def test_schemas_outside_the_subset_get_no_quick_check(schema: dict) -> None:
    assert compile_accept(schema) is None
