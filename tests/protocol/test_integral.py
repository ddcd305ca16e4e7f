"""Integral doubles where a schema says integer, with values: 5.0 becomes 5 before a
handler sees it (a double in a BIGINT column fails a whole batch on PostgreSQL), and a
double no 64-bit integer holds is -32602 naming its field."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from protocol import errors
from protocol.errors import RpcError
from protocol.integral import compile_integral
from tests.protocol.test_jsonrpc_core import make_engine

SCHEMA = {"type": "object", "properties": {
    "page": {"type": "integer"},
    "rating": {"type": "number"},
    "season": {"type": ["integer", "null"]},
    "name": {"type": "string"},
    "items": {"type": "array", "items": {"type": "object", "properties": {
        "year": {"type": "integer"}, "tags": {"type": "array", "items": {"type": "integer"}}}}},
    "filters": {"type": "object", "properties": {"year_min": {"type": "integer"}}},
}}


def fixed(params: dict[str, Any]) -> dict[str, Any]:
    integral = compile_integral(SCHEMA)
    assert integral is not None
    integral(params)
    return params


def test_integral_doubles_at_integer_places_become_ints() -> None:
    params = fixed({"page": 5.0, "rating": 5.0, "season": 2.0, "name": "x",
                    "items": [{"year": 2000.0, "tags": [1.0, 2]}, {"year": 1999}, "junk"],
                    "filters": {"year_min": -3.0}})
    assert params == {"page": 5, "rating": 5.0, "season": 2, "name": "x",
                      "items": [{"year": 2000, "tags": [1, 2]}, {"year": 1999}, "junk"], "filters": {"year_min": -3}}
    assert [type(params[k]) for k in ("page", "rating", "season")] == [int, float, int]
    assert type(params["items"][0]["year"]) is int and type(params["filters"]["year_min"]) is int


def test_other_values_are_left_alone() -> None:
    untouched = {"page": None, "season": None, "items": {"year": 1.0}, "filters": [1.0], "other": 1.0}
    assert fixed(dict(untouched)) == untouched


@pytest.mark.parametrize("params, field", [
    ({"page": 2.0**63}, "page"), ({"page": -2.0**64}, "page"), ({"page": 1e300}, "page"),
    ({"items": [{"year": 1}, {"year": 1.8446744073709552e19}]}, "items[1].year"),
    ({"items": [{"tags": [0, 9.3e18]}]}, "items[0].tags[1]"),
    ({"filters": {"year_min": -1e19}}, "filters.year_min"),
])
def test_a_double_no_64_bit_integer_holds_is_invalid_params(params: dict[str, Any], field: str) -> None:
    with pytest.raises(RpcError) as refused:
        fixed(params)
    assert refused.value.code == errors.INVALID_PARAMS
    assert refused.value.data == {"errors": [{"field": field, "message": "must be an integer from -2^63 to 2^63-1"}]}


def test_a_schema_without_integer_places_costs_nothing() -> None:
    assert compile_integral({"type": "object", "properties": {"x": {"type": "number"}, "s": {"type": "string"}}}) is None


async def test_the_engine_hands_handlers_ints() -> None:
    out = await make_engine().handle_frame('{"jsonrpc": "2.0", "id": 1, "method": "echo", "params": {"page": 5.0}}', None)
    assert out is not None and b'"page":5}' in out
    out = await make_engine().handle_frame('{"jsonrpc": "2.0", "id": 1, "method": "echo", "params": {"page": 1e19}}', None)
    assert out is not None and orjson.loads(out)["error"]["data"]["errors"][0]["field"] == "page"
