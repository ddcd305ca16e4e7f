"""Series: the item's own checks (values), and the checks and queries that need storage,
on SQLite and PostgreSQL alike (Next Up and Continue Watching read the series columns)."""

from __future__ import annotations

from typing import Any

import pytest

from actors.catalog import series, store
from actors.catalog.model import EPISODE_MAX, FIELDS, ContentItem
from actors.errors import InvalidParams
from actors.playback import store as playback_store
from actors.playback.rules import ResumeRules
from actors.storage import Storage
from tests.e2e.playback_helpers import EPISODE, catalog, episode, movie

BASE = {"id": "e1", "title": "Pilot", "type": "episode", "year": 2020}


def fields(d: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(InvalidParams) as info:
        ContentItem.from_dict(d)
    return [(e["field"], e["message"]) for e in info.value.errors]


def test_an_episode_names_its_place_in_full() -> None:
    item = ContentItem.from_dict({**BASE, "series_id": "s1", "season": 1, "episode": EPISODE_MAX})
    assert (item.series_id, item.season, item.episode) == ("s1", 1, EPISODE_MAX)
    assert item.to_dict()["series_id"] == "s1" and ContentItem.from_dict(item.to_dict()) == item
    alone = ContentItem.from_dict(BASE)
    assert alone.series_id is None and "season" not in alone.to_dict()
    assert fields({**BASE, "series_id": "s1"})[0][0] == "season"
    assert fields({**BASE, "season": 1, "episode": 2})[0][0] == "series_id"
    assert fields({**BASE, "series_id": "s1", "season": 0, "episode": 1})[0][0] == "season"
    assert fields({**BASE, "series_id": "s1", "season": 1, "episode": EPISODE_MAX + 1})[0][0] == "episode"
    assert fields({**BASE, "series_id": "s1", "season": True, "episode": 1})[0][0] == "season"
    assert fields({**BASE, "series_id": "e1", "season": 1, "episode": 1})[0][0] == "series_id"
    assert fields({**BASE, "series_id": " s1", "season": 1, "episode": 1})[0][0] == "series_id"
    assert fields({**BASE, "type": "movie", "series_id": "s1", "season": 1, "episode": 1})[0] == \
        ("series_id", "only an episode belongs to a series")
    assert fields({**BASE, "duration_ms": 2**63})[0][0] == "duration_ms"


async def stored(storage: Storage, items: list[ContentItem]) -> None:
    await series.check(storage, items)
    await store.upsert(storage, items, 1)


async def test_links_are_checked_against_storage(storage: Storage) -> None:
    await stored(storage, catalog())
    assert await series.problems(storage, [episode("sa", 3, 1), episode("zz", 1, 1)]) == [
        (1, "series_id", "no series 'zz'")]
    not_series = ContentItem("x", "x", "episode", 2000, series_id="m1", season=1, episode=1)
    assert (await series.problems(storage, [not_series]))[0][:2] == (0, "series_id")
    found = await series.problems(storage, [movie("sa")])
    assert found[0][:2] == (0, "type") and "6 episode(s)" in found[0][2]
    # Re-pointing every episode in the same write frees the series.
    moved = [ContentItem(**{**_fields(episode("sb", 1, n)), "series_id": "sa", "season": 9}) for n in (1, 2)]
    assert await series.problems(storage, [*moved, movie("sb")]) == []
    with pytest.raises(InvalidParams) as info:
        await series.check(storage, [movie("m3"), episode("zz", 1, 1)])
    assert info.value.errors[0]["field"] == "items[1].series_id"


def _fields(item: ContentItem) -> dict[str, Any]:
    return {name: getattr(item, name) for name in FIELDS}


async def test_episodes_are_listed_in_order(storage: Storage) -> None:
    await stored(storage, catalog())
    assert await store.count_episodes(storage, "sa") == 6
    page = await store.list_episodes_offset(storage, "sa", 2, 3)
    assert [e.id for e in page] == ["sae103", "sae201", "sae202"]
    after = await store.list_episodes_after(storage, "sa", store.episode_key(page[0]), 10)
    assert [e.id for e in after] == ["sae201", "sae202", "sae203"]
    first = (await store.list_episodes_after(storage, "sa", None, 1))[0]
    assert (first.series_id, first.season, first.episode) == ("sa", 1, 1)
    assert (await store.get(storage, "m1")).series_id is None


async def position(storage: Storage, user: str, content_id: str, at: int, *, done: bool = False,
                   played: bool | None = None) -> None:
    p = EPISODE - 1000 if done else EPISODE // 2
    row = (user, content_id, p, EPISODE, int(done), int(done if played is None else played), at)
    await playback_store.write_positions_now(storage, [row])


async def test_next_up_and_continue_watching_queries(storage: Storage) -> None:
    await stored(storage, catalog())
    await position(storage, "u1", "sae101", 1, done=True)
    await position(storage, "u1", "sae102", 2)
    await position(storage, "u1", "sbe101", 3, done=True)
    await position(storage, "u1", "m1", 4)
    await position(storage, "u2", "sae202", 5, done=True)
    rows = await playback_store.list_next_up_offset(storage, "u1", False, 0, 10)
    assert [(r["series_id"], r["next_id"]) for r in rows] == [("sb", "sbe102"), ("sa", "sae102")]
    assert await playback_store.count_next_up(storage, "u1", False) == 2
    after = await playback_store.list_next_up_after(storage, "u1", False, (rows[0]["watched_at"], "sb"), 10)
    assert [r["next_id"] for r in after] == ["sae102"]
    rules = ResumeRules()
    listed = await playback_store.list_resumable_offset(storage, "u1", rules, 0, 10)
    assert [r["content_id"] for r in listed] == ["m1", "sae102"]
    assert await playback_store.count_resumable(storage, "u1", rules) == 2
    later = await playback_store.list_resumable_after(storage, "u1", rules, (4, "m1"), 10)
    assert [r["content_id"] for r in later] == ["sae102"]
    # Played episodes are skipped unless rewatching; a position never clears played.
    await position(storage, "u1", "sbe102", 6, done=True)
    await position(storage, "u1", "sbe101", 7, done=True)
    await position(storage, "u1", "sbe102", 8, played=False)  # replayed halfway
    assert (await playback_store.get_position(storage, "u1", "sbe102"))["played"] == 1
    rows = await playback_store.list_next_up_offset(storage, "u1", False, 0, 10)
    assert [r["next_id"] for r in rows] == ["sae102"]
    rows = await playback_store.list_next_up_offset(storage, "u1", True, 0, 10)
    # The last finished of sb is sbe101 (sbe102 is being replayed): rewatching names sbe102.
    assert [r["next_id"] for r in rows] == ["sbe102", "sae102"]
