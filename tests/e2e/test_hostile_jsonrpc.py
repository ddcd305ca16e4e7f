"""JSON-RPC abuses on an open connection, against a real gateway process: ids of every
type, deep nesting, batches at and past the limit, NUL, duplicate keys, numbers past
the float range, text that is not JSON. Every frame gets the answer JSON-RPC 2.0 asks
for (never -32603) and the connection lives on. Each test ends with `Node.check()`."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.e2e.contract import judge
from tests.e2e.node import Node
from tests.e2e.rawws import RawClient


def _send(client: RawClient, text: str) -> Any:
    """One frame; its answer (the first frame back)."""
    client.send_text(text)
    return client.recv_frame().json()


def _alive(client: RawClient) -> None:
    assert client.call("system.ping")["result"] == {"pong": True}


def _code(answer: Any) -> int | None:
    return answer.get("error", {}).get("code") if isinstance(answer, dict) else None


GOOD_IDS: list[Any] = [0, 1, -1, 2**31, 2**53 + 1, 2**63 - 1, -2**63, 2**63, 1.5, -0.25, 1e300, "", "1", "é✓",
                       "x" * 10_000, "a\u0000b", None]


def test_ids_of_every_valid_type_come_back_as_sent(node: Node) -> None:
    with RawClient.open(node.url) as client:
        for rid in GOOD_IDS:
            answer = _send(client, json.dumps({"jsonrpc": "2.0", "id": rid, "method": "system.ping"}))
            assert answer == {"jsonrpc": "2.0", "id": rid, "result": {"pong": True}}, rid
            assert type(answer["id"]) is type(rid), rid
    node.check()


def test_an_id_past_64_bits_comes_back_exactly_or_is_refused(node: Node) -> None:
    with RawClient.open(node.url) as client:
        for rid in (2**64, -2**63 - 1, 10**40):
            client.send_text(json.dumps({"jsonrpc": "2.0", "id": rid, "method": "system.ping"}))
            raw = client.recv_frame().payload.decode()
            answer = json.loads(raw)
            if "result" in answer:
                assert f'"id":{rid},' in raw.replace(" ", ""), raw
            else:
                assert answer == {"jsonrpc": "2.0", "id": None, "error": answer["error"]}, raw
                assert answer["error"]["code"] == -32600, raw
    node.check()


def test_an_id_beyond_the_float_range_is_an_invalid_request(node: Node) -> None:
    with RawClient.open(node.url) as client:
        for rid in ("1e400", "-1e400"):
            answer = _send(client, '{"jsonrpc":"2.0","id":%s,"method":"system.ping"}' % rid)
            assert answer["id"] is None and _code(answer) == -32600, answer
            _alive(client)
    node.check()


def test_ids_of_invalid_types_are_invalid_requests(node: Node) -> None:
    with RawClient.open(node.url) as client:
        for rid in ("true", "false", "{}", "[]", '{"a":1}', "[1]"):
            answer = _send(client, '{"jsonrpc":"2.0","id":%s,"method":"system.ping"}' % rid)
            assert answer == {"jsonrpc": "2.0", "id": None, "error": answer["error"]}, (rid, answer)
            assert _code(answer) == -32600, (rid, answer)
        _alive(client)
    node.check()


INVALID_REQUESTS = [
    '{"jsonrpc":"1.0","id":1,"method":"system.ping"}',
    '{"id":1,"method":"system.ping"}',
    '{"jsonrpc":2.0,"id":1,"method":"system.ping"}',
    '{"jsonrpc":"2.0","id":1,"method":7}',
    '{"jsonrpc":"2.0","id":1,"method":null}',
    '{"jsonrpc":"2.0","id":1}',
    '{"jsonrpc":"2.0","id":1,"method":"system.ping","params":"x"}',
    '{"jsonrpc":"2.0","id":1,"method":"system.ping","params":7}',
    '{"jsonrpc":"2.0","id":1,"method":"system.ping","params":true}',
    '{"jsonrpc":"2.0","id":1,"result":{"pong":true}}',
    '{"jsonrpc":"2.0","id":1,"error":{"code":1,"message":"x"}}',
    '"system.ping"', "7", "null", "true", "[1]", "[[]]",
]


@pytest.mark.parametrize("frame", INVALID_REQUESTS)
def test_invalid_requests_get_32600(node: Node, frame: str) -> None:
    with RawClient.open(node.url) as client:
        answer = _send(client, frame)
        members = answer if isinstance(answer, list) else [answer]
        for member in members:
            assert _code(member) == -32600, (frame, answer)
        _alive(client)
    node.check()


NOT_JSON = ["", " ", "\t\r\n", "{", "}", '{"jsonrpc":"2.0"', "{'a': 1}", "NaN", "Infinity", "-Infinity",
            '{"a":NaN}', '{"jsonrpc":"2.0","id":1,"method":"system.ping"} trailing', "\ufeff{}", "[1,]", '{"a":1,}',
            "0x10", "01", ".5", '"\\x41"', '"\\u12"', "\u0000", "\u2028{}"]


def test_text_that_is_not_json_gets_32700(node: Node) -> None:
    with RawClient.open(node.url) as client:
        for frame in NOT_JSON:
            answer = _send(client, frame)
            assert answer == {"jsonrpc": "2.0", "id": None, "error": answer.get("error")}, (frame, answer)
            assert _code(answer) == -32700, (frame, answer)
        _alive(client)
    node.check()


def test_deep_nesting_is_answered_not_crashed(node: Node) -> None:
    with RawClient.open(node.url) as client:
        for depth in (100, 500, 1000, 1100, 5000, 100_000):
            for opening, closing in (("[", "]"), ('{"a":', "}")):
                nested = opening * depth + "1" + closing * depth
                for frame in (nested, '{"jsonrpc":"2.0","id":1,"method":"content.list","params":{"x":%s}}' % nested,
                              '{"jsonrpc":"2.0","id":1,"method":"content.upsert","params":{"items":[%s]}}' % nested):
                    answer = _send(client, frame)
                    members = answer if isinstance(answer, list) else [answer]
                    for member in members:
                        assert _code(member) in {-32700, -32600, -32602, -32001}, (depth, frame[:60], answer)
            _alive(client)
    node.check()


def test_batches_at_and_past_the_limit(node: Node) -> None:
    def ping(i: int) -> dict[str, Any]:
        return {"jsonrpc": "2.0", "id": i, "method": "system.ping"}

    with RawClient.open(node.url) as client:
        answers = _send(client, json.dumps([ping(i) for i in range(100)]))
        assert sorted(a["id"] for a in answers) == list(range(100))
        answer = _send(client, json.dumps([ping(i) for i in range(101)]))
        assert _code(answer) == -32600, answer
        answer = _send(client, json.dumps([ping(i) for i in range(20_000)], separators=(",", ":")))  # < 1 MiB
        assert _code(answer) == -32600, str(answer)[:200]
        assert _code(_send(client, "[]")) == -32600
        mixed = [ping(0), 1, {"jsonrpc": "2.0", "id": 2, "method": "nope"}, {"jsonrpc": "2.0", "method": "system.ping"},
                 [ping(4)], {"jsonrpc": "2.0", "id": 5, "method": "system.ping", "params": {"x": 1}}]
        answers = _send(client, json.dumps(mixed))
        assert [(a["id"], _code(a)) for a in answers] == [(0, None), (None, -32600), (2, -32601), (None, -32600),
                                                        (5, -32602)], answers
        # A batch of notifications owes nothing; the next request is answered.
        client.send_text(json.dumps([{"jsonrpc": "2.0", "method": "system.ping"}] * 100))
        _alive(client)
    # Heavy members: each answer is large. (A fresh connection: the rate limit counts a
    # batch's members, and this one has used its burst.)
    with RawClient.open(node.url) as client:
        heavy = [{"jsonrpc": "2.0", "id": i, "method": "rpc.discover"} for i in range(100)]
        answers = _send(client, json.dumps(heavy))
        assert len(answers) == 100 and all("result" in a for a in answers), str(answers)[:300]
        _alive(client)
    node.check()


def test_nul_anywhere(node: Node) -> None:
    with RawClient.open(node.url) as client:
        assert _code(_send(client, '{"jsonrpc":"2.0","id":1,"method":"system.ping\\u0000"}')) == -32601
        assert _code(_send(client, '{"jsonrpc":"2.0\\u0000","id":1,"method":"system.ping"}')) == -32600
        for params, field in (('{"id":"a\\u0000"}', "id"), ('{"id\\u0000":"a"}', "id\u0000"),
                              ('{"query":"x","filters":{"genres":["\\u0000"]}}', "filters.genres[0]")):
            method = "search.query" if "query" in params else "content.get"
            answer = _send(client, '{"jsonrpc":"2.0","id":1,"method":"%s","params":%s}' % (method, params))
            judge(method, None, answer)
            assert _code(answer) == -32602, answer
            assert answer["error"]["data"]["errors"][0]["field"].replace("\u0000", "") == field.replace("\u0000", "")
        answer = _send(client, '{"jsonrpc":"2.0","id":1,"method":"auth.register","params":'
                               '{"email":"nul@example.com","password":"long enough\\u0000!!"}}')
        assert _code(answer) == -32602, answer
        _alive(client)
    node.check()


def test_duplicate_keys_and_lone_surrogates(node: Node) -> None:
    with RawClient.open(node.url) as client:
        for frame in ('{"jsonrpc":"2.0","id":1,"method":"nope","method":"system.ping"}',
                      '{"jsonrpc":"2.0","id":1,"id":2,"method":"system.ping"}',
                      '{"jsonrpc":"2.0","id":1,"method":"content.get","params":{"id":"a","id":"b"}}',
                      '{"jsonrpc":"2.0","id":1,"method":"content.get","params":{"id":"\\ud800"}}',
                      '{"jsonrpc":"2.0","id":1,"method":"content.get","params":{"id":"\\udc00\\ud800"}}',
                      '{"jsonrpc":"2.0","id":"\\ud800","method":"system.ping"}'):
            answer = _send(client, frame)
            assert isinstance(answer, dict) and _code(answer) != -32603, (frame, answer)
            if "error" in answer:
                assert _code(answer) in {-32700, -32600, -32602, -32004}, (frame, answer)
        _alive(client)
    node.check()


def test_unknown_methods_and_reserved_names(node: Node) -> None:
    with RawClient.open(node.url) as client:
        for method in ("", " ", "rpc.", "rpc.nope", "system", "system.ping.x", "SYSTEM.PING", "system.ping ",
                       "__init__", "constructor", "x" * 100_000, "é✓", "../system.ping"):
            answer = _send(client, json.dumps({"jsonrpc": "2.0", "id": 1, "method": method}))
            assert _code(answer) == -32601, (method[:50], answer)
            client.send_text(json.dumps({"jsonrpc": "2.0", "method": method}))  # a notification: no answer
        _alive(client)
    node.check()
