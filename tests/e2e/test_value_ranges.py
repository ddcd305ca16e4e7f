"""Values at their edges, end to end on both storage dialects (SQLite, PostgreSQL): every
number at its published maximum is stored, read back and computed with (listings,
playback's arithmetic in SQL) without a failure; one step past it is -32602 naming the
field; an integral double where an integer goes (`5.0`, as many clients write numbers)
is taken as the integer, not handed to a BIGINT column that refuses it."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, AsyncIterator

import pytest
import trio

from actors.catalog.model import DURATION_MAX, EPISODE_MAX, POPULARITY_MAX, RATING_MAX, SEASON_MAX, YEAR_MAX, YEAR_MIN
from gateway.app import App
from mgclient import RpcError as RpcClientError
from tests.auth_helpers import new_user
from tests.conftest import SHUTDOWN_WAIT, RunningApp, make_config
from tests.support import Client, connect


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str | None:
    return None if request.param == "sqlite" else request.getfixturevalue("pg_url")


@pytest.fixture
async def gateway(nursery: trio.Nursery, tmp_path: Path, database_url: str | None) -> AsyncIterator[RunningApp]:
    """An in-process gateway on SQLite or PostgreSQL, stopped gracefully afterwards."""
    app = App(make_config(tmp_path, database_url=database_url))
    exited = trio.Event()
    codes: list[int] = []

    async def run(task_status: trio.TaskStatus[tuple[int, int]] = trio.TASK_STATUS_IGNORED) -> None:
        codes.append(await app.run(task_status=task_status))
        exited.set()

    ws_port, admin_port = await nursery.start(run)
    yield RunningApp(app, ws_port, admin_port)
    app.request_shutdown()
    with trio.fail_after(SHUTDOWN_WAIT):
        await exited.wait()
    assert codes == [0], "the gateway did not stop gracefully"


async def refused(client: Client, method: str, params: Any) -> list[dict[str, str]]:
    with pytest.raises(RpcClientError) as info:
        await client.call(method, params)
    assert info.value.code == -32602, info.value
    return list((info.value.data or {}).get("errors", []))


def series(**fields: Any) -> dict[str, Any]:
    return {"id": "edge-series", "title": "Edge series", "type": "series", "year": 2000, **fields}


def episode(**fields: Any) -> dict[str, Any]:
    return {"id": "edge-episode", "title": "Edge episode", "type": "episode", "year": 2000,
            "series_id": "edge-series", "season": 1, "episode": 1, "duration_ms": 60_000, **fields}


# field -> (lowest, highest, one step below, one step above)
EDGES: dict[str, tuple[Any, Any, Any, Any]] = {
    "year": (YEAR_MIN, YEAR_MAX, YEAR_MIN - 1, YEAR_MAX + 1),
    "rating": (0.0, RATING_MAX, -5e-324, math.nextafter(RATING_MAX, math.inf)),
    "popularity": (0.0, POPULARITY_MAX, -5e-324, math.nextafter(POPULARITY_MAX, math.inf)),
    "duration_ms": (0, DURATION_MAX, -1, DURATION_MAX + 1),
    "season": (1, SEASON_MAX, 0, SEASON_MAX + 1),
    "episode": (1, EPISODE_MAX, 0, EPISODE_MAX + 1),
}


async def test_every_number_of_a_content_item_at_its_edges(gateway: RunningApp) -> None:
    admin = await new_user(gateway, admin=True)
    async with connect(gateway.url, admin["access_token"]) as client:
        for field, (low, high, below, above) in EDGES.items():
            for value in (low, high):
                item = episode(**{field: value})
                assert await client.call("content.upsert", {"items": [series(), item]}) == {"upserted": 2}
                stored = await client.call("content.get", {"id": item["id"]})
                assert stored[field] == value and type(stored[field]) is type(value), (field, stored)
                for sort in ("popularity", "title", "year"):
                    listed = await client.call("content.list", {"limit": 100, "sort": sort})
                    assert item["id"] in [i["id"] for i in listed["items"]], sort
            for value in (below, above):
                problems = await refused(client, "content.upsert", {"items": [series(), episode(**{field: value})]})
                assert [p["field"] for p in problems] == [f"items[1].{field}"], (field, value, problems)


async def test_playback_arithmetic_holds_at_the_longest_duration(gateway: RunningApp) -> None:
    """Continue watching's SQL multiplies positions by 100: at the longest duration and
    the furthest position it still answers (past 2^63 / 100 PostgreSQL fails)."""
    admin = await new_user(gateway, admin=True)
    async with connect(gateway.url, admin["access_token"]) as client:
        await client.call("content.upsert", {"items": [
            {"id": "longest", "title": "Longest", "type": "movie", "year": 2000, "duration_ms": DURATION_MAX}]})
    user = await new_user(gateway)
    async with connect(gateway.url, user["access_token"]) as client:
        sid = (await client.call("playback.start", {"content_id": "longest"}))["session_id"]
        middle = DURATION_MAX // 2
        assert await client.call("playback.position", {"session_id": sid, "position_ms": middle}) == {"ok": True}
        assert await client.call("playback.stop", {"session_id": sid, "position_ms": middle}) == \
            {"position_ms": middle, "completed": False}
        watching = await client.call("playback.continue_watching", {"page": 1, "page_size": 10})
        assert [(e["content"]["id"], e["position_ms"]) for e in watching["items"]] == [("longest", middle)]
        sid = (await client.call("playback.start", {"content_id": "longest"}))["session_id"]
        problems = await refused(client, "playback.position", {"session_id": sid, "position_ms": DURATION_MAX + 1})
        assert [p["field"] for p in problems] == ["position_ms"]


async def test_integral_doubles_where_integers_go_are_taken_as_integers(gateway: RunningApp) -> None:
    admin = await new_user(gateway, admin=True)
    async with connect(gateway.url, admin["access_token"]) as client:
        item = {"id": "doubles", "title": "Doubles", "type": "movie", "year": 2001.0, "duration_ms": 3_600_000.0}
        assert await client.call("content.upsert", {"items": [item]}) == {"upserted": 1}
        stored = await client.call("content.get", {"id": "doubles"})
        assert (stored["year"], stored["duration_ms"]) == (2001, 3_600_000) and type(stored["year"]) is int
        assert (await client.call("content.list", {"page": 1.0, "page_size": 5.0}))["page_info"]["page_size"] == 5


async def test_positions_sent_as_integral_doubles_are_stored(gateway: RunningApp) -> None:
    admin = await new_user(gateway, admin=True)
    async with connect(gateway.url, admin["access_token"]) as client:
        item = {"id": "doubles", "title": "Doubles", "type": "movie", "year": 2001, "duration_ms": 3_600_000}
        assert await client.call("content.upsert", {"items": [item]}) == {"upserted": 1}
    user = await new_user(gateway)
    async with connect(gateway.url, user["access_token"]) as client:
        sid = (await client.call("playback.start", {"content_id": "doubles"}))["session_id"]
        assert await client.call("playback.position", {"session_id": sid, "position_ms": 600_000.0}) == {"ok": True}
        stopped = await client.call("playback.stop", {"session_id": sid, "position_ms": 660_000.0})
        assert stopped == {"position_ms": 660_000, "completed": False}
        resume = await client.call("playback.resume", {"content_id": "doubles"})
        assert resume["position_ms"] == 660_000 and type(resume["position_ms"]) is int


async def test_a_position_past_every_duration_is_refused_when_the_item_has_none(gateway: RunningApp) -> None:
    """An item without a duration (0, the default) takes any position. Unbounded, a
    double of 1e19 went into the write-behind batch and failed it on PostgreSQL (past a
    BIGINT), again at every retry, and every other user's positions with it; 2^62 went
    in and broke continue watching's arithmetic."""
    admin = await new_user(gateway, admin=True)
    async with connect(gateway.url, admin["access_token"]) as client:
        await client.call("content.upsert", {"items": [{"id": "open-ended", "title": "Open", "type": "movie",
                                                         "year": 2001}]})
    user = await new_user(gateway)
    async with connect(gateway.url, user["access_token"]) as client:
        sid = (await client.call("playback.start", {"content_id": "open-ended"}))["session_id"]
        for position in (1e19, 2**62, DURATION_MAX + 1):
            problems = await refused(client, "playback.position", {"session_id": sid, "position_ms": position})
            assert [p["field"] for p in problems] == ["position_ms"], (position, problems)
        stopped = await client.call("playback.stop", {"session_id": sid, "position_ms": DURATION_MAX})
        assert set(stopped) == {"position_ms", "completed"}
        assert (await client.call("playback.continue_watching", {"limit": 5}))["page_info"]["has_next_page"] is False
