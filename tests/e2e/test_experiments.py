"""experiments.* through a whole in-process gateway over real sockets: who may call
what, validation errors with their fields, paging, assignment defaults, stats."""

from __future__ import annotations

import math
import time
from collections import Counter
from typing import Any

import pytest

from mgclient import Connection as Client, RpcError as RpcClientError
from tests.auth_helpers import admin_token, new_user, user_token
from tests.support import connect, http_get

AUTH_REQUIRED, PERMISSION_DENIED, NOT_FOUND, CONFLICT, INVALID_PARAMS = -32001, -32002, -32004, -32005, -32602


async def rpc_error(client: Client, method: str, params: Any = None) -> RpcClientError:
    with pytest.raises(RpcClientError) as info:
        await client.call(method, params)
    return info.value


def fields(error: RpcClientError) -> list[str]:
    return [e["field"] for e in error.data["errors"]]


async def test_admin_lifecycle(gateway: Any) -> None:
    async with connect(gateway.url, await admin_token(gateway)) as admin:
        created = await admin.call("experiments.create", {
            "id": "checkout-button", "name": "Checkout button",
            "variants": [{"name": "control", "weight": 1}, {"name": "green", "weight": 3}],
            "coverage": 0.5,
        })
        assert created["id"] == "checkout-button" and created["active"] is True
        assert created["variants"] == [{"name": "control", "weight": 0.25}, {"name": "green", "weight": 0.75}]
        assert created["coverage"] == 0.5 and created["seed"] == "checkout-button"
        assert await admin.call("experiments.get", {"id": "checkout-button"}) == created

        updated = await admin.call("experiments.update", {
            "id": "checkout-button", "coverage": 1,
            "variants": [{"name": "control", "weight": 1}, {"name": "green", "weight": 1}]})
        assert updated["variants"] == [{"name": "control", "weight": 0.5}, {"name": "green", "weight": 0.5}]
        assert updated["coverage"] == 1 and updated["created_at"] == created["created_at"]

        assert (await rpc_error(admin, "experiments.get", {"id": "missing"})).code == NOT_FOUND
        assert (await rpc_error(admin, "experiments.update", {"id": "missing", "active": False})).code == NOT_FOUND
        assert (await rpc_error(admin, "experiments.stats", {"id": "missing"})).code == NOT_FOUND
        again = await rpc_error(admin, "experiments.create", {"id": "checkout-button", "name": "x", "variants": ["a"]})
        assert again.code == CONFLICT

        for i in range(4):
            await admin.call("experiments.create", {"id": f"e{i}", "name": f"E{i}", "variants": ["a", "b"]})
        page = await admin.call("experiments.list", {"page": 2, "page_size": 2})
        assert [e["id"] for e in page["items"]] == ["e1", "e2"]
        assert page["page_info"] == {"page": 2, "page_size": 2, "total": 5, "total_pages": 3, "has_next_page": True}
        seen, cursor = [], None
        while True:
            page = await admin.call("experiments.list", {"limit": 2, **({"cursor": cursor} if cursor else {})})
            seen += [e["id"] for e in page["items"]]
            cursor = page["page_info"]["next_cursor"]
            if cursor is None:
                assert page["page_info"]["has_next_page"] is False
                break
        assert seen == ["checkout-button", "e0", "e1", "e2", "e3"]
        both = await rpc_error(admin, "experiments.list", {"page": 1, "limit": 2})
        assert both.code == INVALID_PARAMS
        real = (await admin.call("experiments.list", {"limit": 1}))["page_info"]["next_cursor"]
        body, signature = real.split(".")
        forged = body[:-2] + ("AA" if body[-2:] != "AA" else "BB") + "." + signature
        tampered = await rpc_error(admin, "experiments.list", {"limit": 2, "cursor": forged})
        assert tampered.code == INVALID_PARAMS and fields(tampered) == ["cursor"]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"id": "e", "name": "E", "variants": []}, ["variants"]),
        ({"id": "e", "name": "E", "variants": ["a", "a"]}, ["variants[1]"]),
        ({"id": "e", "name": "E", "variants": [{"name": "a", "weight": -1}, {"name": "b", "weight": 1}]},
         ["variants[0].weight"]),
        ({"id": "e", "name": "E", "variants": [{"name": "a", "weight": 0}, {"name": "a", "weight": 0}]},
         ["variants[1].name", "variants"]),
        ({"id": "e", "name": "", "variants": ["a"], "coverage": 2}, ["coverage"]),
        ({"id": "no spaces", "name": "", "variants": []}, ["id", "name", "variants"]),
        ({"id": "e", "name": "E", "variants": "a"}, ["variants"]),
        ({"name": "E", "variants": ["a"]}, ["id"]),
        ({"id": "e", "name": "E", "variants": ["a"], "colour": "red"}, ["colour"]),
    ],
)
async def test_create_validation_names_the_fields(gateway: Any, params: dict, expected: list[str]) -> None:
    async with connect(gateway.url, await admin_token(gateway)) as admin:
        error = await rpc_error(admin, "experiments.create", params)
        assert error.code == INVALID_PARAMS
        assert fields(error) == expected


async def test_update_validation(gateway: Any) -> None:
    async with connect(gateway.url, await admin_token(gateway)) as admin:
        await admin.call("experiments.create", {"id": "e", "name": "E", "variants": ["a", "b"]})
        renamed = await rpc_error(admin, "experiments.update", {"id": "e", "variants": ["a", "c"]})
        assert renamed.code == INVALID_PARAMS and fields(renamed) == ["variants"]
        nothing = await rpc_error(admin, "experiments.update", {"id": "e"})
        assert nothing.code == INVALID_PARAMS
        zero = await rpc_error(admin, "experiments.update", {
            "id": "e", "variants": [{"name": "a", "weight": 0}, {"name": "b", "weight": 0}]})
        assert fields(zero) == ["variants"]


async def test_who_may_call_what(gateway: Any) -> None:
    async with connect(gateway.url, await admin_token(gateway)) as admin:
        await admin.call("experiments.create", {"id": "e", "name": "E", "variants": ["a", "b"]})
    admin_only = [("experiments.create", {"id": "x", "name": "X", "variants": ["a"]}),
                  ("experiments.get", {"id": "e"}), ("experiments.list", {}),
                  ("experiments.update", {"id": "e", "active": False}), ("experiments.stats", {"id": "e"})]
    async with connect(gateway.url) as anonymous, connect(gateway.url, await user_token(gateway)) as user:
        for method, params in admin_only:
            assert (await rpc_error(anonymous, method, params)).code == AUTH_REQUIRED
            assert (await rpc_error(user, method, params)).code == PERMISSION_DENIED
        # Anyone may be assigned.
        result = await anonymous.call("experiments.assign", {"experiment_id": "e", "user_id": "u-1"})
        assert result["experiment_id"] == "e" and result["user_id"] == "u-1" and result["in_experiment"] is True
        assert await user.call("experiments.assign", {"experiment_id": "e", "user_id": "u-1"}) == result
        missing = await rpc_error(anonymous, "experiments.assign", {"experiment_id": "nope", "user_id": "u"})
        assert missing.code == NOT_FOUND


async def test_assign_defaults_to_the_caller(gateway: Any) -> None:
    async with connect(gateway.url, await admin_token(gateway)) as admin:
        await admin.call("experiments.create", {"id": "e", "name": "E", "variants": ["a", "b", "c"]})
    someone = await new_user(gateway)
    async with connect(gateway.url, someone["access_token"]) as client:
        mine = await client.call("experiments.assign", {"experiment_id": "e"})
        assert mine["user_id"] == someone["user_id"]
        assert await client.call("experiments.assign", ["e"]) == mine  # by position too
    async with connect(gateway.url) as anonymous:
        assert await anonymous.call("experiments.assign", {"experiment_id": "e", "user_id": someone["user_id"]}) == mine
        # Neither a user_id nor an authenticated caller: the missing input is named.
        error = await rpc_error(anonymous, "experiments.assign", {"experiment_id": "e"})
        assert error.code == INVALID_PARAMS and fields(error) == ["user_id"]
        empty = await rpc_error(anonymous, "experiments.assign", {"experiment_id": "e", "user_id": ""})
        assert empty.code == INVALID_PARAMS and fields(empty) == ["user_id"]
        # PostgreSQL text cannot hold U+0000, and one such id would fail a whole batch of
        # recorded assignments: refused at the door, and the connection lives on.
        nul = await rpc_error(anonymous, "experiments.assign", {"experiment_id": "e", "user_id": "a\x00b"})
        assert nul.code == INVALID_PARAMS and fields(nul) == ["user_id"]
        assert await anonymous.call("experiments.assign", {"experiment_id": "e", "user_id": someone["user_id"]}) == mine


@pytest.mark.gateway_config(rate_limit=0)  # 2,000 calls in a row on one connection
async def test_assignments_stats_and_stickiness_over_the_wire(gateway: Any) -> None:
    # A service assigning on behalf of its users connects as an admin: every first
    # answer it asks for is recorded (an anonymous caller's only under a quota).
    token = await admin_token(gateway)
    async with connect(gateway.url, token) as admin, connect(gateway.url, token) as client:
        await admin.call("experiments.create", {"id": "e", "name": "E", "variants": ["a", "b"]})
        ids = [f"user-{i}" for i in range(1000)]
        first = [await client.call("experiments.assign", {"experiment_id": "e", "user_id": u}) for u in ids]
        counts = Counter(r["variant"] for r in first)
        stats = await admin.call("experiments.stats", {"id": "e"})
        assert stats["counts"] == dict(counts) and stats["total"] == 1000
        assert stats["srm_detected"] is False and 0.001 <= stats["srm_p_value"] <= 1

        await admin.call("experiments.update", {"id": "e", "variants": [
            {"name": "a", "weight": 1}, {"name": "b", "weight": 9}]})
        again = [await client.call("experiments.assign", {"experiment_id": "e", "user_id": u}) for u in ids]
        assert again == first
        # The sticky answers skew the exposures against the new 10/90 weights: flagged.
        stats = await admin.call("experiments.stats", {"id": "e"})
        assert stats["total"] == 2000 and stats["srm_detected"] is True

        await admin.call("experiments.update", {"id": "e", "active": False})
        off = await client.call("experiments.assign", {"experiment_id": "e", "user_id": "user-1"})
        assert off["variant"] == "a" and off["in_experiment"] is False


async def test_methods_are_discoverable(gateway: Any) -> None:
    async with connect(gateway.url) as client:
        document = await client.call("rpc.discover")
    methods = {m["name"]: m for m in document["methods"]}
    for name in ("create", "get", "list", "update", "stats"):
        assert methods[f"experiments.{name}"]["x-access"] == "admin"
    assert methods["experiments.assign"]["x-access"] == "anyone"


async def test_buffers_show_in_metrics(gateway: Any) -> None:
    async with connect(gateway.url, await admin_token(gateway)) as admin:
        await admin.call("experiments.create", {"id": "e", "name": "E", "variants": ["a", "b"]})
        for i in range(5):
            await admin.call("experiments.assign", {"experiment_id": "e", "user_id": f"u{i}"})
    status, body = await http_get(gateway.admin + "/metrics")
    assert status == 200
    assert b'mg_experiments_buffered{kind="cached"} 5' in body
    assert b"# TYPE mg_experiments_lookups_total counter" in body  # it only grows
    assert b'mg_experiments_lookups_total{kind="recorded_variant"} 0' in body


async def recorded_rows(gateway: Any, experiment_id: str) -> int:
    await gateway.app.domains.experiments.flush()
    return int(await gateway.app.services.storage.fetchval(
        "SELECT count(*) FROM experiment_assignments WHERE experiment_id = $1", experiment_id))


@pytest.mark.gateway_config(rate_limit=0, assign_record_per_connection=30, assign_record_rate=5)
async def test_first_answers_of_callers_not_vouched_for_are_recorded_under_a_quota(gateway: Any) -> None:
    """Recorded at once: a user asking for itself, an admin for anyone. Anyone else
    (anonymous, a user naming another id): 30 per connection, and on the node 5 a
    second after a burst of 50. Past it the same answer is given, not recorded: it
    sticks only until a weight change moves its bucket; recorded ones stick."""
    started = time.monotonic()  # the node's bucket started full about now, and refills at 5/s
    async with connect(gateway.url, await admin_token(gateway)) as admin:
        await admin.call("experiments.create", {"id": "e", "name": "E", "variants": ["a", "b"]})
    someone = await new_user(gateway)
    async with connect(gateway.url) as anonymous:
        first = {u: (await anonymous.call("experiments.assign", {"experiment_id": "e", "user_id": u}))["variant"]
                 for u in [f"anon-{i}" for i in range(40)]}
    assert await recorded_rows(gateway, "e") == 30  # the connection's 30
    async with connect(gateway.url, someone["access_token"]) as user:
        for i in range(40):  # another id each: not vouched for either
            await user.call("experiments.assign", {"experiment_id": "e", "user_id": f"other-{i}"})
        await user.call("experiments.assign", {"experiment_id": "e"})  # itself: recorded whatever the quota
    refilled = math.ceil(5 * (time.monotonic() - started))
    rows = await recorded_rows(gateway, "e")
    assert 30 + 20 + 1 <= rows <= 30 + 20 + 1 + refilled  # the node's burst of 50 (and its refill) spent
    _, body = await http_get(gateway.admin + "/metrics")
    assert b'mg_experiments_unrecorded_total{limit="connection"} 10.0' in body
    assert f'mg_experiments_unrecorded_total{{limit="node"}} {20 - (rows - 51)}.0'.encode() in body
    recorded = dict(list(first.items())[:30])
    async with connect(gateway.url, await admin_token(gateway)) as admin:
        await admin.call("experiments.update", {"id": "e", "variants": [{"name": "a", "weight": 1},
                                                                        {"name": "b", "weight": 99}]})
        again = {u: (await admin.call("experiments.assign", {"experiment_id": "e", "user_id": u}))["variant"]
                 for u in first}
    assert {u: again[u] for u in recorded} == recorded  # sticky
    moved = [u for u in first if u not in recorded and again[u] != first[u]]
    assert moved, "an unrecorded answer follows the new weights (a 1/99 split moves most of arm a)"
