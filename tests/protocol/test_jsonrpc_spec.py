"""Every example of the JSON-RPC 2.0 specification (section 7), with its exact answer."""

from __future__ import annotations

import orjson
import pytest

from protocol.jsonrpc import Engine
from protocol.calls import Call
from protocol.methods import MethodTable, method

NUMBERS = {"type": "array", "items": {"type": "number"}}


def spec_table() -> tuple[MethodTable, list]:
    table = MethodTable()
    updates: list = []

    # By-position params (an array schema) arrive as the list they are.
    async def subtract(call: Call[None]) -> float:
        return call.params["minuend"] - call.params["subtrahend"]

    async def total(call: Call[None]) -> float:
        return sum(call.params)  # type: ignore[arg-type]

    async def update(call: Call[None]) -> None:
        updates.append(call.params)

    async def notify_hello(call: Call[None]) -> None:
        updates.append(("hello", call.params))

    async def get_data(call: Call[None]) -> list:
        return ["hello", 5]

    table.add_all([
        method("subtract", subtract, params={
            "type": "object",
            "properties": {"minuend": {"type": "number"}, "subtrahend": {"type": "number"}},
            "required": ["minuend", "subtrahend"],
            "additionalProperties": False,
        }),
        method("sum", total, params=NUMBERS),
        method("update", update, params=NUMBERS),
        method("notify_hello", notify_hello, params=NUMBERS),
        method("get_data", get_data),
    ], None)
    return table, updates


async def roundtrip(frame: str) -> object:
    table, _ = spec_table()
    out = await Engine(table).handle_frame(frame, None)
    return None if out is None else orjson.loads(out)


@pytest.mark.parametrize(
    "frame, expected",
    [
        # rpc call with positional parameters
        ('{"jsonrpc": "2.0", "method": "subtract", "params": [42, 23], "id": 1}',
         {"jsonrpc": "2.0", "result": 19, "id": 1}),
        ('{"jsonrpc": "2.0", "method": "subtract", "params": [23, 42], "id": 2}',
         {"jsonrpc": "2.0", "result": -19, "id": 2}),
        # rpc call with named parameters
        ('{"jsonrpc": "2.0", "method": "subtract", "params": {"subtrahend": 23, "minuend": 42}, "id": 3}',
         {"jsonrpc": "2.0", "result": 19, "id": 3}),
        ('{"jsonrpc": "2.0", "method": "subtract", "params": {"minuend": 42, "subtrahend": 23}, "id": 4}',
         {"jsonrpc": "2.0", "result": 19, "id": 4}),
        # notifications
        ('{"jsonrpc": "2.0", "method": "update", "params": [1,2,3,4,5]}', None),
        ('{"jsonrpc": "2.0", "method": "foobar"}', None),
        # rpc call of non-existent method
        ('{"jsonrpc": "2.0", "method": "foobar", "id": "1"}',
         {"jsonrpc": "2.0", "error": {"code": -32601, "message": "Method not found"}, "id": "1"}),
        # rpc call with invalid JSON
        ('{"jsonrpc": "2.0", "method": "foobar, "params": "bar", "baz]',
         {"jsonrpc": "2.0", "error": {"code": -32700, "message": "Parse error"}, "id": None}),
        # rpc call with invalid Request object
        ('{"jsonrpc": "2.0", "method": 1, "params": "bar"}',
         {"jsonrpc": "2.0", "error": {"code": -32600, "message": "Invalid Request"}, "id": None}),
        # rpc call Batch, invalid JSON
        ('[{"jsonrpc": "2.0", "method": "sum", "params": [1,2,4], "id": "1"},{"jsonrpc": "2.0", "method"]',
         {"jsonrpc": "2.0", "error": {"code": -32700, "message": "Parse error"}, "id": None}),
        # rpc call with an empty Array
        ("[]", {"jsonrpc": "2.0", "error": {"code": -32600, "message": "Invalid Request"}, "id": None}),
        # rpc call with an invalid Batch (but not empty)
        ("[1]", [{"jsonrpc": "2.0", "error": {"code": -32600, "message": "Invalid Request"}, "id": None}]),
        # rpc call with invalid Batch
        ("[1,2,3]", [{"jsonrpc": "2.0", "error": {"code": -32600, "message": "Invalid Request"}, "id": None}] * 3),
        # rpc call Batch
        ("""[
            {"jsonrpc": "2.0", "method": "sum", "params": [1,2,4], "id": "1"},
            {"jsonrpc": "2.0", "method": "notify_hello", "params": [7]},
            {"jsonrpc": "2.0", "method": "subtract", "params": [42,23], "id": "2"},
            {"foo": "boo"},
            {"jsonrpc": "2.0", "method": "foo.get", "params": {"name": "myself"}, "id": "5"},
            {"jsonrpc": "2.0", "method": "get_data", "id": "9"}
        ]""",
         [
             {"jsonrpc": "2.0", "result": 7, "id": "1"},
             {"jsonrpc": "2.0", "result": 19, "id": "2"},
             {"jsonrpc": "2.0", "error": {"code": -32600, "message": "Invalid Request"}, "id": None},
             {"jsonrpc": "2.0", "error": {"code": -32601, "message": "Method not found"}, "id": "5"},
             {"jsonrpc": "2.0", "result": ["hello", 5], "id": "9"},
         ]),
        # rpc call Batch (all notifications)
        ("""[
            {"jsonrpc": "2.0", "method": "notify_sum", "params": [1,2,4]},
            {"jsonrpc": "2.0", "method": "notify_hello", "params": [7]}
        ]""", None),
    ],
)
async def test_specification_examples(frame: str, expected: object) -> None:
    assert await roundtrip(frame) == expected


async def test_notifications_still_run() -> None:
    table, updates = spec_table()
    engine = Engine(table)
    assert await engine.handle_frame('{"jsonrpc": "2.0", "method": "update", "params": [1,2,3,4,5]}', None) is None
    assert updates == [[1, 2, 3, 4, 5]]
