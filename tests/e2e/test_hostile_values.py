"""Values at and past the edges, aimed where they hurt: numbers storage cannot hold, sums
that overflow, numbers past the float range, signed tokens with absurd claims, cursors
with junk inside. Against a real gateway process; each test ends with `Node.check()`
(alive, a ping, no actor crashed, open files and memory back near the baseline)."""

from __future__ import annotations

import time
from typing import Any

import jwt

from tests.e2e.contract import ADMIN, USER, judge
from tests.e2e.node import JWT_SECRET, Node, unique
from tests.e2e.rawws import RawClient

BEYOND_INT64 = [2**63, 2**64, -2**63 - 1, 10**30]


def _item(**fields: Any) -> dict[str, Any]:
    return {"id": unique("edge"), "title": "Edge", "type": "movie", "year": 2000, "genres": ["Drama"],
            "platforms": ["web"], "rating": 5.0, "popularity": 1.0, "duration_ms": 60_000, **fields}


def test_integers_storage_cannot_hold_are_invalid_params_naming_the_field(node: Node) -> None:
    """An integer field gets -32602 naming it; a number field may instead store the
    value as the float it is (and give it back), but never fail in storage."""
    with RawClient.open(node.url, node.token(ADMIN)) as admin:
        for field, integer in (("year", True), ("duration_ms", True), ("rating", False), ("popularity", False)):
            for value in BEYOND_INT64:
                item = _item(**{field: value})
                answer = admin.call("content.upsert", {"items": [item]})
                judge("content.upsert", ADMIN, answer)
                stored = admin.call("content.get", {"id": item["id"]})
                if "result" in answer and not integer:
                    assert stored["result"][field] == float(value), (field, value, stored)
                    continue
                assert answer.get("error", {}).get("code") == -32602, (field, value, answer)
                assert answer["error"]["data"]["errors"][0]["field"] == f"items[0].{field}", answer
                assert stored["error"]["code"] == -32004, stored
    node.check()


def test_the_same_poison_message_again_and_again_stops_nothing(node: Node) -> None:
    with RawClient.open(node.url, node.token(ADMIN)) as admin:
        admin.result("content.upsert", {"items": [_item(id="survivor")]})
        for n in range(10):
            answer = admin.call("content.upsert", {"items": [_item(duration_ms=2**63)]})
            judge("content.upsert", ADMIN, answer)
        assert admin.result("content.get", {"id": "survivor"})["id"] == "survivor"
    node.check()


def test_weights_whose_sum_overflows_are_refused_or_kept_finite(node: Node) -> None:
    with RawClient.open(node.url, node.token(ADMIN)) as admin:
        for weights in ([1e308, 1e308], [1.7976931348623157e308, 1.0, 1e308]):
            variants = [{"name": f"v{i}", "weight": w} for i, w in enumerate(weights)]
            experiment = unique("overflow")
            answer = admin.call("experiments.create", {"id": experiment, "name": "x", "variants": variants})
            judge("experiments.create", ADMIN, answer)
            if "error" in answer:
                assert answer["error"]["code"] == -32602, answer
                continue
            stored = [v["weight"] for v in answer["result"]["variants"]]
            assert all(w > 0 for w in stored) and abs(sum(stored) - 1) < 1e-9, stored
            stats = admin.result("experiments.stats", {"id": experiment})
            assert all(w > 0 for w in stats["weights"].values()), stats
        # Changing weights goes through the same arithmetic.
        experiment = unique("overflow")
        admin.result("experiments.create", {"id": experiment, "name": "x", "variants": ["a", "b"]})
        answer = admin.call("experiments.update", {"id": experiment, "variants": [
            {"name": "a", "weight": 1e308}, {"name": "b", "weight": 1e308}]})
        judge("experiments.update", ADMIN, answer)
        if "result" in answer:
            assert [v["weight"] for v in answer["result"]["variants"]] == [0.5, 0.5], answer
    node.check()


NUMERIC_FIELDS = [
    ("content.upsert", ADMIN, '{"items":[{"id":"big","title":"t","type":"movie","year":2000,"rating":%s}]}', "items[0].rating"),
    ("content.upsert", ADMIN, '{"items":[{"id":"big","title":"t","type":"movie","year":%s}]}', "items[0].year"),
    ("content.list", None, '{"page":%s}', "page"),
    ("search.query", None, '{"query":"x","filters":{"rating_min":%s}}', "filters.rating_min"),
    ("search.autocomplete", None, '{"q":"x","limit":%s}', "limit"),
    ("experiments.create", ADMIN, '{"id":"big","name":"n","variants":["a","b"],"coverage":%s}', "coverage"),
    ("experiments.create", ADMIN, '{"id":"big","name":"n","variants":[{"name":"a","weight":%s},'
                                  '{"name":"b","weight":1}]}', "variants[0].weight"),
    ("playback.position", USER, '{"session_id":"s","position_ms":%s}', "position_ms"),
]


def test_numbers_beyond_the_float_range_are_invalid_params(node: Node) -> None:
    for method, role, template, field in NUMERIC_FIELDS:
        with RawClient.open(node.url, node.token(role)) as client:
            for number in ("1e400", "-1e400", "1" + "0" * 400 + ".5"):
                client.send_text('{"jsonrpc":"2.0","id":7,"method":"%s","params":%s}' % (method, template % number))
                answer = client.answer(7)
                judge(method, role, answer)
                assert answer["error"]["code"] == -32602, (method, number, answer)
                assert answer["error"]["data"]["errors"][0]["field"] == field, answer
    node.check()


def _sign(claims: dict[str, Any]) -> str:
    return jwt.encode(claims, JWT_SECRET, algorithm="HS256")


def test_signed_tokens_with_absurd_claims_get_contract_answers(node: Node) -> None:
    real = jwt.decode(node.user(USER)["access_token"], options={"verify_signature": False})
    now = int(time.time())
    variants = [dict(real, exp=value) for value in (2**63 - 1, 2**63, 2**64, 10**30, 253402300800, 1e308, -1)]
    variants += [dict(real, iat=value) for value in (-2**63, 2**63, now + 10**9)]
    variants += [dict(real, roles=value) for value in ("admin", [None], [["admin"]], {"admin": True})]
    variants += [dict(real, sub=value) for value in ("", 7, None, "x" * 5000)]
    variants += [{k: v for k, v in real.items() if k != name} for name in real]
    for claims in variants:
        token = _sign(claims)
        with RawClient.open(node.url) as client:
            answer = client.call("auth.authenticate", {"access_token": token})
            judge("auth.authenticate", None, answer, claims)
            if "result" in answer:
                assert answer["result"]["roles"] == ["user"], answer
        try:
            with RawClient.open(node.url, token) as client:
                judge("user.profile", USER, client.call("user.profile"), claims)
        except ConnectionError as refused:
            assert any(f" {status} " in str(refused) for status in (400, 401, 431)), refused
    node.check()


def test_cursors_with_junk_inside_are_invalid_params(node: Node) -> None:
    with RawClient.open(node.url, node.token(ADMIN)) as admin:
        admin.result("content.upsert", {"items": [_item(id=f"page-{i}") for i in range(3)]})
        cursor = admin.result("content.list", {"limit": 1})["page_info"]["next_cursor"]
        assert cursor
        body, _, sig = cursor.partition(".")
        middle = len(body) // 2
        tampered = [body[:middle] + junk + body[middle:] + "." + sig for junk in ("!", "*", "\n", " ", "==", "%")]
        tampered += [cursor + junk for junk in ("=", "==", "!", " ")]
        tampered += [body + "." + sig[:-1] + junk for junk in ("=",)]
        for bad in tampered:
            answer = admin.call("content.list", {"limit": 1, "cursor": bad})
            judge("content.list", ADMIN, answer, {"cursor": bad})
            assert answer.get("error", {}).get("code") == -32602, (bad, answer)
    node.check()


def test_a_call_cut_off_mid_answer_leaves_nothing_behind(node: Node) -> None:
    """Big answers the client never reads: the server must not keep the buffers."""
    with RawClient.open(node.url, node.token(ADMIN)) as admin:
        admin.result("content.upsert", {"items": [_item(id=f"bulk-{i}", title="t" * 400) for i in range(100)]})
    for _ in range(20):
        client = RawClient.open(node.url)
        for rid in range(32):
            client.send_text('{"jsonrpc":"2.0","id":%d,"method":"content.list","params":{"page_size":100}}' % rid)
        client.close()
    node.check()
