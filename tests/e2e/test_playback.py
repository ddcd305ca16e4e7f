"""playback.* over real sockets against an in-process gateway (SQLite)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from actors.catalog.messages import Upsert
from actors.catalog.model import ContentItem
from protocol import errors
from mgclient import RpcError as RpcClientError
from tests.auth_helpers import new_user
from tests.support import connect

HOUR = 3_600_000
ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


def film(n: int, duration_ms: int = HOUR) -> ContentItem:
    return ContentItem(id=f"f{n:03d}", title=f"Film {n}", type="movie", year=2000 + n, genres=("Drama",),
                       platforms=("Netflix",), rating=7.0, popularity=float(n), duration_ms=duration_ms)


async def seed(gateway: Any, n: int = 12) -> list[ContentItem]:
    items = [film(i) for i in range(n)] + [film(900, duration_ms=120_000)]
    await gateway.app.registry.lookup("catalog").ask(Upsert(tuple(items)))
    return items


async def rpc_error(client: Any, method: str, params: Any = None) -> RpcClientError:
    with pytest.raises(RpcClientError) as info:
        await client.call(method, params)
    return info.value


async def test_a_viewing_from_start_to_resume(gateway: Any) -> None:
    await seed(gateway)
    user = await new_user(gateway)
    async with connect(gateway.url, user["access_token"]) as client:
        started = await client.call("playback.start", {"content_id": "f001", "device_id": "tv"})
        assert started["resume"] == {"position_ms": 0, "offer_resume": False}
        sid = started["session_id"]
        for position in range(0, 1_200_001, 60_000):
            await client.notify("playback.position", {"session_id": sid, "position_ms": position})
        assert await client.call("playback.position", {"session_id": sid, "position_ms": 1_260_000}) == {"ok": True}
        resume = await client.call("playback.resume", {"content_id": "f001"})
        assert resume["content_id"] == "f001" and resume["position_ms"] == 1_260_000
        assert resume["offer_resume"] is True and resume["completed"] is False
        assert ISO.match(resume["updated_at"])
        stopped = await client.call("playback.stop", {"session_id": sid, "position_ms": 1_300_000})
        assert stopped == {"position_ms": 1_300_000, "completed": False}
        again = await client.call("playback.start", {"content_id": "f001"})
        assert again["resume"] == {"position_ms": 1_300_000, "offer_resume": True}
        finished = await client.call("playback.stop", {"session_id": again["session_id"], "position_ms": HOUR - 500})
        assert finished == {"position_ms": 0, "completed": True}
        resume = await client.call("playback.resume", {"content_id": "f001"})
        assert (resume["position_ms"], resume["offer_resume"], resume["completed"]) == (0, False, True)
        never = await client.call("playback.resume", {"content_id": "f002"})
        assert never == {"content_id": "f002", "position_ms": 0, "offer_resume": False, "completed": False, "played": False,
                         "updated_at": None}


async def test_a_second_device_resumes_where_the_first_is(gateway: Any) -> None:
    await seed(gateway)
    user = await new_user(gateway)
    async with connect(gateway.url, user["access_token"]) as phone, \
            connect(gateway.url, user["access_token"]) as tv:
        first = await phone.call("playback.start", {"content_id": "f003", "device_id": "phone"})
        await phone.notify("playback.position", {"session_id": first["session_id"], "position_ms": 900_000})
        await phone.call("system.ping")  # the notification was read before this answer
        second = await tv.call("playback.start", {"content_id": "f003", "device_id": "tv"})
        assert second["resume"] == {"position_ms": 900_000, "offer_resume": True}
        await tv.call("playback.position", {"session_id": second["session_id"], "position_ms": 1_000_000})
        await phone.call("playback.position", {"session_id": first["session_id"], "position_ms": 950_000})
        assert (await tv.call("playback.resume", {"content_id": "f003"}))["position_ms"] == 950_000


async def test_sessions_belong_to_their_user(gateway: Any) -> None:
    await seed(gateway)
    owner, stranger = await new_user(gateway), await new_user(gateway)
    async with connect(gateway.url, owner["access_token"]) as mine, \
            connect(gateway.url, stranger["access_token"]) as theirs:
        sid = (await mine.call("playback.start", {"content_id": "f001"}))["session_id"]
        for method, params in (("playback.position", {"session_id": sid, "position_ms": 5000}),
                               ("playback.stop", {"session_id": sid})):
            assert (await rpc_error(theirs, method, params)).code == errors.NOT_FOUND
        # A notification from the stranger is ignored, not applied.
        await theirs.notify("playback.position", {"session_id": sid, "position_ms": 2_000_000})
        await theirs.call("system.ping")
        assert (await theirs.call("playback.resume", {"content_id": "f001"}))["position_ms"] == 0
        assert (await mine.call("playback.resume", {"content_id": "f001"}))["position_ms"] == 0
        assert (await mine.call("playback.stop", {"session_id": sid}))["completed"] is False


async def test_bad_input(gateway: Any) -> None:
    await seed(gateway)
    user = await new_user(gateway)
    async with connect(gateway.url) as anonymous:
        assert (await rpc_error(anonymous, "playback.start", {"content_id": "f001"})).code == errors.AUTH_REQUIRED
    async with connect(gateway.url, user["access_token"]) as client:
        assert (await rpc_error(client, "playback.start", {"content_id": "nope"})).code == errors.NOT_FOUND
        assert (await rpc_error(client, "playback.resume", {"content_id": "nope"})).code == errors.NOT_FOUND
        assert (await rpc_error(client, "playback.position",
                                {"session_id": "nope", "position_ms": 1})).code == errors.NOT_FOUND
        sid = (await client.call("playback.start", {"content_id": "f001"}))["session_id"]
        for position in (-1, HOUR + 1):
            err = await rpc_error(client, "playback.position", {"session_id": sid, "position_ms": position})
            assert err.code == errors.INVALID_PARAMS
            assert err.data["errors"][0]["field"] == "position_ms"
        err = await rpc_error(client, "playback.stop", {"session_id": sid, "position_ms": HOUR + 1})
        assert err.code == errors.INVALID_PARAMS and err.data["errors"][0]["field"] == "position_ms"
        err = await rpc_error(client, "playback.position", {"session_id": sid, "position_ms": "12"})
        assert err.code == errors.INVALID_PARAMS
        err = await rpc_error(client, "playback.continue_watching", {"page": 1, "limit": 5})
        assert err.code == errors.INVALID_PARAMS
        err = await rpc_error(client, "playback.continue_watching", {"limit": 5, "cursor": "bogus.cursor"})
        assert err.code == errors.INVALID_PARAMS


async def watched(client: Any, content_id: str, position: int) -> None:
    sid = (await client.call("playback.start", {"content_id": content_id}))["session_id"]
    await client.call("playback.stop", {"session_id": sid, "position_ms": position})


async def test_continue_watching(gateway: Any) -> None:
    items = {i.id: i for i in await seed(gateway)}
    user, other = await new_user(gateway), await new_user(gateway)
    async with connect(gateway.url, user["access_token"]) as client:
        for n in range(8):
            await watched(client, f"f{n:03d}", 600_000 + n * 1000)
        await watched(client, "f008", HOUR - 100)  # finished: left out
        await watched(client, "f009", 10_000)  # barely started: nothing to resume
        await watched(client, "f900", 60_000)  # too short to resume
        live = (await client.call("playback.start", {"content_id": "f010"}))["session_id"]
        await client.notify("playback.position", {"session_id": live, "position_ms": 1_800_000})
        await client.call("system.ping")
        first = await client.call("playback.continue_watching", {"page": 1, "page_size": 4})
        assert first["page_info"] == {"page": 1, "page_size": 4, "total": 9, "total_pages": 3,
                                      "has_next_page": True}
        top = first["items"][0]
        assert top["content"] == items["f010"].to_dict()
        assert top["position_ms"] == 1_800_000 and top["progress"] == pytest.approx(0.5)
        assert ISO.match(top["updated_at"])
        by_cursor: list[str] = []
        params: dict[str, Any] = {"limit": 4}
        while True:
            page = await client.call("playback.continue_watching", params)
            by_cursor += [i["content"]["id"] for i in page["items"]]
            if not page["page_info"]["has_next_page"]:
                assert page["page_info"]["next_cursor"] is None
                break
            params = {"limit": 4, "cursor": page["page_info"]["next_cursor"]}
        assert by_cursor == ["f010"] + [f"f{n:03d}" for n in reversed(range(8))]
        cursor = (await client.call("playback.continue_watching", {"limit": 2}))["page_info"]["next_cursor"]
    async with connect(gateway.url, other["access_token"]) as stranger:
        assert (await stranger.call("playback.continue_watching"))["items"] == []
        # A cursor is bound to its user's listing.
        err = await rpc_error(stranger, "playback.continue_watching", {"limit": 2, "cursor": cursor})
        assert err.code == errors.INVALID_PARAMS


@pytest.mark.gateway_config(rate_limit=0)  # coalescing, not the rate limit, is tested here
async def test_a_fast_sender_is_coalesced_not_failed(gateway: Any) -> None:
    await seed(gateway)
    user = await new_user(gateway)
    async with connect(gateway.url, user["access_token"]) as client:
        sid = (await client.call("playback.start", {"content_id": "f004"}))["session_id"]
        for position in range(0, 2000):
            await client.notify("playback.position", {"session_id": sid, "position_ms": 1_000_000 + position})
        assert await client.call("playback.position", {"session_id": sid, "position_ms": 1_500_000}) == {"ok": True}
        assert (await client.call("playback.resume", {"content_id": "f004"}))["position_ms"] == 1_500_000
    text = gateway.app.metrics.render().decode()
    # A notification is never answered, not even with an error: the server's own count
    # of outcomes says every one of the 2,001 updates was accepted.
    position_calls = [line for line in text.splitlines() if line.startswith('mg_rpc_requests_total{method="playback.position"')]
    assert position_calls == ['mg_rpc_requests_total{method="playback.position",outcome="ok"} 2001.0']
    assert metric(text, "mg_playback_updates_total") >= 2001
    assert metric(text, "mg_playback_flushes_total") <= 5  # well under one per update


def metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not in metrics")


async def test_listed_in_rpc_discover(gateway: Any) -> None:
    async with connect(gateway.url) as client:
        doc = await client.call("rpc.discover")
    names = {m["name"] for m in doc["methods"]}
    assert {"playback.start", "playback.position", "playback.stop", "playback.resume",
            "playback.continue_watching"} <= names
