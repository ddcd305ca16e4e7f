"""The JSON-RPC core beyond the spec examples: params errors, access, internal errors."""

from __future__ import annotations

import orjson

from actors.errors import InvalidParams, NotFound
from protocol import errors, openrpc
from protocol.jsonrpc import MAX_BATCH, Engine, reject_frame
from protocol.calls import Call
from protocol.methods import Access, MethodTable, method

PAGE = {
    "type": "object",
    "properties": {
        "page": {"type": "integer", "minimum": 1},
        "name": {"type": "string", "maxLength": 5},
    },
    "required": ["page"],
    "additionalProperties": False,
}


def make_engine(seen: list | None = None) -> Engine:
    table = MethodTable()

    async def echo(call: Call[None]) -> dict:
        return call.params

    async def boom(call: Call[None]) -> None:
        raise RuntimeError("secret detail /etc/passwd")

    async def missing(call: Call[None]) -> None:
        raise NotFound("no such item")

    async def bad(call: Call[None]) -> None:
        raise InvalidParams("items[2].rating", "must be at most 10")

    table.add_all([
        method("echo", echo, params=PAGE),
        method("boom", boom),
        method("missing", missing),
        method("bad", bad),
        method("secret", echo, access=Access.USER),
    ], None)
    on_call = (lambda m, o, s: seen.append((m, o))) if seen is not None else None
    return Engine(table, on_call=on_call)


async def call(engine: Engine, method: str, params: object = None) -> dict:
    msg = {"jsonrpc": "2.0", "id": 7, "method": method}
    if params is not None:
        msg["params"] = params
    out = await engine.handle_frame(orjson.dumps(msg), None)
    assert out is not None
    return orjson.loads(out)


async def test_valid_params_pass_through() -> None:
    assert (await call(make_engine(), "echo", {"page": 2}))["result"] == {"page": 2}


async def test_wrong_type_names_the_field() -> None:
    err = (await call(make_engine(), "echo", {"page": "two"}))["error"]
    assert err["code"] == errors.INVALID_PARAMS
    assert err["data"]["errors"][0]["field"] == "page"


async def test_missing_and_unknown_fields() -> None:
    err = (await call(make_engine(), "echo", {}))["error"]
    assert err["data"]["errors"] == [{"field": "page", "message": "is required"}]
    err = (await call(make_engine(), "echo", {"page": 1, "pgae": 3}))["error"]
    assert err["data"]["errors"] == [{"field": "pgae", "message": "is not a known field"}]


async def test_bounds_are_checked() -> None:
    err = (await call(make_engine(), "echo", {"page": 0}))["error"]
    assert err["code"] == errors.INVALID_PARAMS and err["data"]["errors"][0]["field"] == "page"
    err = (await call(make_engine(), "echo", {"page": 1, "name": "toolong"}))["error"]
    assert err["data"]["errors"][0]["field"] == "name"


async def test_too_many_positional_params() -> None:
    err = (await call(make_engine(), "echo", [1, "a", 3]))["error"]
    assert err["code"] == errors.INVALID_PARAMS


async def test_domain_errors_map_to_codes() -> None:
    err = (await call(make_engine(), "missing"))["error"]
    assert err == {"code": errors.NOT_FOUND, "message": "no such item"}
    err = (await call(make_engine(), "bad"))["error"]
    assert err["code"] == errors.INVALID_PARAMS
    assert err["data"]["errors"] == [{"field": "items[2].rating", "message": "must be at most 10"}]


async def test_internal_error_leaks_nothing() -> None:
    seen: list = []
    answer = await call(make_engine(seen), "boom")
    assert answer["error"] == {"code": errors.INTERNAL_ERROR, "message": "Internal error"}
    assert "passwd" not in orjson.dumps(answer).decode()
    assert seen == [("boom", "internal_error")]


async def test_user_methods_need_authentication_by_default() -> None:
    err = (await call(make_engine(), "secret", {"page": 1}))["error"]
    assert err["code"] == errors.AUTH_REQUIRED


async def test_unknown_methods_share_one_metric_label() -> None:
    seen: list = []
    engine = make_engine(seen)
    await call(engine, "nope.one")
    await call(engine, "nope.two")
    assert seen == [("unknown", "method_not_found")] * 2


async def test_oversized_batch_is_refused_whole() -> None:
    frame = orjson.dumps([{"jsonrpc": "2.0", "id": i, "method": "echo", "params": {"page": 1}} for i in range(MAX_BATCH + 1)])
    answer = orjson.loads(await make_engine().handle_frame(frame, None))
    assert answer["error"]["code"] == errors.INVALID_REQUEST and answer["id"] is None


async def test_ids_of_every_type_are_echoed() -> None:
    engine = make_engine()
    for rid in ["abc", 0, -5, 1.5, None]:
        frame = orjson.dumps({"jsonrpc": "2.0", "id": rid, "method": "echo", "params": {"page": 1}})
        assert orjson.loads(await engine.handle_frame(frame, None))["id"] == rid


async def test_bad_id_type_is_invalid_request() -> None:
    frame = orjson.dumps({"jsonrpc": "2.0", "id": {"x": 1}, "method": "echo"})
    answer = orjson.loads(await make_engine().handle_frame(frame, None))
    assert answer["error"]["code"] == errors.INVALID_REQUEST and answer["id"] is None


def test_reject_frame_answers_each_call_but_not_notifications() -> None:
    err = errors.RpcError(errors.SHUTTING_DOWN, "Server is shutting down")
    frame = b'[{"jsonrpc":"2.0","id":1,"method":"a"},{"jsonrpc":"2.0","method":"b"},{"x":1}]'
    answer = orjson.loads(reject_frame(frame, err))
    assert [a["error"]["code"] for a in answer] == [errors.SHUTTING_DOWN, errors.INVALID_REQUEST]
    assert reject_frame(b'{"jsonrpc":"2.0","method":"b"}', err) is None


def test_openrpc_lists_every_method() -> None:
    doc = openrpc.document(make_engine().table, title="t", version="1")
    names = [m["name"] for m in doc["methods"]]
    assert names == sorted(["echo", "boom", "missing", "bad", "secret"])
    echo = next(m for m in doc["methods"] if m["name"] == "echo")
    assert {"name": "page", "required": True, "schema": PAGE["properties"]["page"]} in echo["params"]
    assert next(m for m in doc["methods"] if m["name"] == "secret")["x-access"] == "user"


async def test_nested_fields_are_named_like_paths() -> None:
    table = MethodTable()

    async def handler(call: Call[None]) -> None:
        return None

    table.add(method("nested", handler, params={"type": "object", "properties": {
        "items": {"type": "array", "items": {"type": "object", "properties": {"rating": {"type": "number"}}}}}}),
        None)
    frame = b'{"jsonrpc":"2.0","id":1,"method":"nested","params":{"items":[{},{"rating":"high"}]}}'
    answer = orjson.loads(await Engine(table).handle_frame(frame, None))
    assert answer["error"]["data"]["errors"][0]["field"] == "items[1].rating"


async def test_a_nul_character_in_params_is_refused_with_its_field() -> None:
    engine = make_engine()
    err = (await call(engine, "echo", {"page": 1, "name": "a\x00b"}))["error"]
    assert err["code"] == errors.INVALID_PARAMS
    assert err["data"]["errors"] == [{"field": "name", "message": "must not contain the NUL character (U+0000)"}]
    nested = orjson.loads(await engine.handle_frame(
        b'[{"jsonrpc":"2.0","id":1,"method":"echo","params":{"page":1,"x":["ok",{"y":"\\u0000"}]}},'
        b'{"jsonrpc":"2.0","id":2,"method":"nope","params":["\\u0000"]}]', None))
    assert nested[0]["error"]["data"]["errors"][0]["field"] == "x[1].y"
    assert nested[1]["error"]["code"] == errors.METHOD_NOT_FOUND
    # An escaped backslash followed by "u0000" is six characters of plain text.
    text = orjson.loads(await engine.handle_frame(
        '{"jsonrpc":"2.0","id":3,"method":"echo","params":{"page":1,"name":"\\\\u0000"}}', None))
    assert text["error"]["data"]["errors"][0]["message"] != "must not contain the NUL character (U+0000)"


async def test_a_nul_deeper_than_the_recursion_limit_is_found() -> None:
    depth = 1000  # orjson parses up to 1024 levels; Python recurses to about 1000
    frame = '{"jsonrpc":"2.0","id":1,"method":"echo","params":{"page":1,"x":' + "[" * depth + '"\\u0000"' + "]" * depth + "}}"
    answer = orjson.loads(await make_engine().handle_frame(frame, None))
    assert answer["error"]["data"]["errors"][0]["field"] == "x" + "[0]" * depth
