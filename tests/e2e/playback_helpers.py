"""A small series catalog and helpers for the playback e2e tests."""

from __future__ import annotations

from typing import Any

import pytest
import trio

from actors.catalog.model import ContentItem
from mgclient import RpcError as RpcClientError
from tests.support import Client

MIN = 60_000
EPISODE = 45 * MIN


def series(sid: str, title: str) -> ContentItem:
    return ContentItem(id=sid, title=title, type="series", year=2020, genres=("Drama",), platforms=("Netflix",),
                       rating=8.0, popularity=10.0, duration_ms=EPISODE)


def episode(series_id: str, season: int, number: int) -> ContentItem:
    return ContentItem(id=f"{series_id}e{season}{number:02d}", title=f"Chapter {season}.{number}", type="episode",
                       year=2020, genres=("Drama",), platforms=("Netflix",), rating=8.0, popularity=1.0,
                       duration_ms=EPISODE, series_id=series_id, season=season, episode=number)


def movie(mid: str, minutes: int = 120) -> ContentItem:
    return ContentItem(id=mid, title=f"Movie {mid}", type="movie", year=2001, genres=("Drama",),
                       platforms=("Netflix",), rating=7.0, popularity=5.0, duration_ms=minutes * MIN)


def catalog() -> list[ContentItem]:
    """Two series ("sa": 2 seasons of 3, "sb": 1 season of 2) and two movies."""
    items = [series("sa", "Alpha"), series("sb", "Beta"), movie("m1"), movie("m2")]
    items += [episode("sa", s, e) for s in (2, 1) for e in (3, 1, 2)]  # stored out of order on purpose
    items += [episode("sb", 1, e) for e in (1, 2)]
    return items


def as_params(items: list[ContentItem]) -> dict[str, Any]:
    return {"items": [i.to_dict() for i in items]}


async def rpc_error(client: Client, method: str, params: Any = None) -> RpcClientError:
    with pytest.raises(RpcClientError) as info:
        await client.call(method, params)
    return info.value


async def heard(client: Client, timeout: float = 1.0) -> dict[str, Any]:
    """The next server notification on `client` (kept or arriving within `timeout` s)."""
    with trio.fail_after(timeout):
        while True:
            msg = await client.next_message()
            if _is_notification(msg):
                return msg  # type: ignore[no-any-return]


async def silent(client: Client, for_seconds: float) -> bool:
    """True when no notification arrives on `client` within `for_seconds`."""
    if any(_is_notification(m) for m in client.buffered()):
        return False
    with trio.move_on_after(for_seconds):
        await heard(client, for_seconds + 1)
        return False
    return True


def _is_notification(msg: object) -> bool:
    return isinstance(msg, dict) and "method" in msg and "id" not in msg


def notifications(client: Client) -> list[dict[str, Any]]:
    """The server notifications received on `client` and not taken yet."""
    return [m for m in client.buffered() if _is_notification(m)]


async def watch(client: Client, content_id: str, position_ms: int) -> str:
    """Start, report one position, stop there: the session id."""
    sid: str = (await client.call("playback.start", {"content_id": content_id}))["session_id"]
    await client.call("playback.stop", {"session_id": sid, "position_ms": position_ms})
    return sid
