"""playback.subscribe / playback.changed over real sockets on one node (SQLite, no Redis)."""

from __future__ import annotations

from typing import Any

import pytest
import trio

from protocol import errors
from tests.auth_helpers import new_user
from tests.e2e.playback_helpers import MIN, as_params, catalog, heard, rpc_error, silent
from tests.support import connect


async def seeded(gateway: Any) -> None:
    admin = await new_user(gateway, admin=True)
    async with connect(gateway.url, admin["access_token"]) as client:
        await client.call("content.upsert", as_params(catalog()))


async def test_a_second_device_hears_the_first(gateway: Any) -> None:
    await seeded(gateway)
    user, stranger = await new_user(gateway), await new_user(gateway)
    token = user["access_token"]
    async with connect(gateway.url, token) as phone, connect(gateway.url, token) as tv, \
            connect(gateway.url, stranger["access_token"]) as other:
        answer = await tv.call("playback.subscribe", {})
        sub = answer["subscription"]
        assert isinstance(sub, str) and sub.startswith("0x")
        own = (await phone.call("playback.subscribe"))["subscription"]
        theirs = (await other.call("playback.subscribe"))["subscription"]
        sid = (await phone.call("playback.start", {"content_id": "m1", "device_id": "phone"}))["session_id"]

        started = trio.current_time()
        await phone.notify("playback.position", {"session_id": sid, "position_ms": 10 * MIN})
        note = await heard(tv)
        assert trio.current_time() - started < 1.0
        assert note["method"] == "playback.changed"
        params = note["params"]
        assert params.pop("updated_at").endswith("Z")
        assert params == {"subscription": sub, "content_id": "m1", "position_ms": 10 * MIN, "completed": False,
                          "played": False, "device_id": "phone"}

        stopped = await phone.call("playback.stop", {"session_id": sid, "position_ms": 119 * MIN})
        assert stopped["completed"] is True
        note = (await heard(tv))["params"]
        assert (note["content_id"], note["position_ms"], note["completed"], note["played"]) == \
            ("m1", 119 * MIN, True, True)

        assert await phone.call("playback.mark_played", {"content_id": "m1", "played": False}) == \
            {"content_id": "m1", "played": False, "position_ms": 0}
        note = (await heard(tv))["params"]
        assert (note["position_ms"], note["completed"], note["played"]) == (0, False, False)
        await phone.call("playback.mark_played", {"content_id": "m2", "played": True})
        note = (await heard(tv))["params"]
        assert (note["content_id"], note["position_ms"], note["completed"], note["played"]) == \
            ("m2", 0, True, True)

        # The device that made the changes, and another user, heard nothing.
        assert await silent(phone, 0.3) and await silent(other, 0.01)
        assert own != sub != theirs

        assert await tv.call("playback.unsubscribe", {"subscription": sub}) == {"ok": True}
        await phone.call("playback.mark_played", {"content_id": "m2", "played": False})
        assert await silent(tv, 0.6)


@pytest.mark.gateway_config(rate_limit=0)  # 200 updates at once: far past the per-connection rate
async def test_updates_are_coalesced_per_item(gateway: Any) -> None:
    await seeded(gateway)
    user = await new_user(gateway)
    token = user["access_token"]
    async with connect(gateway.url, token) as phone, connect(gateway.url, token) as tv:
        await tv.call("playback.subscribe")
        sid = (await phone.call("playback.start", {"content_id": "m1"}))["session_id"]
        for second in range(200):
            await phone.notify("playback.position", {"session_id": sid, "position_ms": 10 * MIN + second})
        await phone.call("system.ping")
        first = (await heard(tv))["params"]
        last = (await heard(tv))["params"]  # the rest, coalesced into the latest
        assert first["position_ms"] >= 10 * MIN and last["position_ms"] == 10 * MIN + 199
        assert await silent(tv, 0.7)


async def test_bad_calls(gateway: Any) -> None:
    await seeded(gateway)
    user, stranger = await new_user(gateway), await new_user(gateway)
    async with connect(gateway.url) as anonymous:
        for method, params in (("playback.subscribe", {}), ("playback.unsubscribe", {"subscription": "0x1"}),
                               ("playback.mark_played", {"content_id": "m1", "played": True}),
                               ("playback.next_up", {})):
            assert (await rpc_error(anonymous, method, params)).code == errors.AUTH_REQUIRED
    async with connect(gateway.url, user["access_token"]) as mine, \
            connect(gateway.url, user["access_token"]) as my_other, \
            connect(gateway.url, stranger["access_token"]) as theirs:
        sub = (await mine.call("playback.subscribe"))["subscription"]
        # Another connection's (or user's) subscription id is unknown to this one.
        for client in (my_other, theirs):
            err = await rpc_error(client, "playback.unsubscribe", {"subscription": sub})
            assert err.code == errors.NOT_FOUND
        assert (await rpc_error(mine, "playback.unsubscribe", {"subscription": "0xnope"})).code == errors.NOT_FOUND
        for params, field in (({"subscription": ""}, "subscription"), ({}, "subscription"),
                              ({"subscription": 5}, "subscription")):
            err = await rpc_error(mine, "playback.unsubscribe", params)
            assert err.code == errors.INVALID_PARAMS and err.data["errors"][0]["field"] == field
        err = await rpc_error(mine, "playback.subscribe", {"user_id": "someone"})
        assert err.code == errors.INVALID_PARAMS and err.data["errors"][0]["field"] == "user_id"
        for _ in range(3):
            await mine.call("playback.subscribe")
        err = await rpc_error(mine, "playback.subscribe")  # past 4 per connection
        assert err.code == errors.INVALID_PARAMS and "at most 4" in err.data["errors"][0]["message"]
        assert await mine.call("playback.unsubscribe", {"subscription": sub}) == {"ok": True}
        assert (await mine.call("playback.subscribe"))["subscription"]

        assert (await rpc_error(mine, "playback.mark_played", {"content_id": "nope", "played": True})).code == \
            errors.NOT_FOUND
        for params, field in (({"content_id": "m1"}, "played"), ({"content_id": "m1", "played": "yes"}, "played"),
                              ({"played": True}, "content_id"), ({"content_id": "", "played": True}, "content_id"),
                              ({"content_id": "m1", "played": True, "x": 1}, "x")):
            err = await rpc_error(mine, "playback.mark_played", params)
            assert err.code == errors.INVALID_PARAMS and err.data["errors"][0]["field"] == field
        for params, field in (({"rewatching": 1}, "rewatching"), ({"page": 0}, "page"), ({"limit": 101}, "limit"),
                              ({"page": 1, "limit": 5}, "limit")):
            err = await rpc_error(mine, "playback.next_up", params)
            assert err.code == errors.INVALID_PARAMS and err.data["errors"][0]["field"] == field
        # A cursor is bound to its user's listing.
        cursor = (await mine.call("playback.next_up", {"limit": 1}))["page_info"]["next_cursor"]
        assert cursor is None
        assert await mine.call("system.ping") == {"pong": True}  # the connection lives on


async def test_subscriptions_end_with_their_connection(gateway: Any) -> None:
    await seeded(gateway)
    user = await new_user(gateway)
    token = user["access_token"]
    hub = gateway.app.table.get("playback.subscribe").domain.push
    async with connect(gateway.url, token) as phone:
        async with connect(gateway.url, token) as tv:
            await tv.call("playback.subscribe")
            await tv.call("playback.subscribe")
            assert len(hub) == 2
        with trio.fail_after(5):
            while len(hub):
                await trio.sleep(0.01)
        assert not hub.wants(user["user_id"])
        await phone.call("playback.mark_played", {"content_id": "m1", "played": True})


async def test_the_new_methods_are_in_rpc_discover(gateway: Any) -> None:
    async with connect(gateway.url) as client:
        doc = await client.call("rpc.discover")
    methods = {m["name"]: m for m in doc["methods"]}
    params = {name: {p["name"]: p["required"] for p in methods[name]["params"]} for name in (
        "playback.subscribe", "playback.unsubscribe", "playback.mark_played", "playback.next_up", "content.episodes")}
    assert params["playback.subscribe"] == {}
    assert params["playback.unsubscribe"] == {"subscription": True}
    assert params["playback.mark_played"] == {"content_id": True, "played": True}
    assert params["playback.next_up"] == {"page": False, "page_size": False, "limit": False, "cursor": False,
                                          "rewatching": False}
    assert params["content.episodes"]["series_id"] is True
    for name in ("playback.subscribe", "playback.unsubscribe", "playback.mark_played", "playback.next_up"):
        assert methods[name]["x-access"] == "user"
    assert methods["content.episodes"]["x-access"] == "anyone"
    ref = methods["content.get"]["result"]["schema"]["$ref"]
    item = doc["components"]["schemas"][ref.rsplit("/", 1)[1]]["properties"]
    assert {"series_id", "season", "episode"} <= item.keys()
