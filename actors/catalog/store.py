"""Catalog rows in storage: the SQL for content, shared by the actor and the CLI."""

from __future__ import annotations

from typing import Any, Iterable, Sequence

import orjson

from actors.catalog.model import FIELDS, ContentItem
from actors.storage import Queries

COLUMNS = ", ".join(FIELDS)
"""A content row's columns, in `FIELDS` order. An item outside any series stores
series_id '' and season, episode 0 (sorted columns are NOT NULL, migration 0010)."""

UPSERT_SQL = f"""
INSERT INTO content ({COLUMNS}, updated_at)
VALUES ({", ".join(f"${n}" for n in range(1, len(FIELDS) + 2))})
ON CONFLICT (id) DO UPDATE SET
    {", ".join(f"{name} = excluded.{name}" for name in FIELDS[1:])},
    updated_at = excluded.updated_at
"""

# Each sort: (ORDER BY, the "after this row" predicate). The id breaks ties in the same
# direction as the sort key, so the predicate is one row-value comparison that both
# databases answer with a range scan of the matching index (migration 0008).
SORTS: dict[str, tuple[str, str]] = {
    "popularity": ("popularity DESC, id DESC", "(popularity, id) < ($1, $2)"),
    "title": ("title ASC, id ASC", "(title, id) > ($1, $2)"),
    "year": ("year DESC, id DESC", "(year, id) < ($1, $2)"),
}


def row_args(item: ContentItem, now_ms: int) -> tuple:
    return (item.id, item.title, item.type, item.year, orjson.dumps(list(item.genres)).decode(),
            orjson.dumps(list(item.platforms)).decode(), float(item.rating), float(item.popularity),
            int(item.duration_ms), item.series_id or "", item.season or 0, item.episode or 0, now_ms)


def from_row(row: Any) -> ContentItem:
    return ContentItem(
        id=row["id"], title=row["title"], type=row["type"], year=int(row["year"]),
        genres=tuple(orjson.loads(row["genres"])), platforms=tuple(orjson.loads(row["platforms"])),
        rating=float(row["rating"]), popularity=float(row["popularity"]), duration_ms=int(row["duration_ms"]),
        series_id=row["series_id"] or None, season=int(row["season"]) or None, episode=int(row["episode"]) or None,
    )


def sort_key(item: ContentItem, sort: str) -> tuple:
    value = {"popularity": item.popularity, "title": item.title, "year": item.year}[sort]
    return (value, item.id)


async def upsert(db: Queries, items: Sequence[ContentItem], now_ms: int) -> None:
    await db.executemany(UPSERT_SQL, [row_args(item, now_ms) for item in items])


async def get(db: Queries, content_id: str) -> ContentItem | None:
    row = await db.fetchrow(f"SELECT {COLUMNS} FROM content WHERE id = $1", content_id)
    return None if row is None else from_row(row)


async def get_many(db: Queries, ids: Iterable[str]) -> list[ContentItem]:
    ids = list(ids)
    if not ids:
        return []
    marks = ", ".join(f"${i + 1}" for i in range(len(ids)))
    rows = await db.fetch(f"SELECT {COLUMNS} FROM content WHERE id IN ({marks})", *ids)
    return [from_row(r) for r in rows]


async def count(db: Queries) -> int:
    return int(await db.fetchval("SELECT count(*) FROM content"))


async def list_offset(db: Queries, sort: str, offset: int, limit: int) -> list[ContentItem]:
    order, _ = SORTS[sort]
    rows = await db.fetch(f"SELECT {COLUMNS} FROM content ORDER BY {order} LIMIT $1 OFFSET $2", limit, offset)
    return [from_row(r) for r in rows]


async def list_after(db: Queries, sort: str, after: tuple | None, limit: int) -> list[ContentItem]:
    """Up to `limit` items after the row whose sort key is `after` (from the start if None)."""
    order, predicate = SORTS[sort]
    if after is None:
        rows = await db.fetch(f"SELECT {COLUMNS} FROM content ORDER BY {order} LIMIT $1", limit)
    else:
        rows = await db.fetch(f"SELECT {COLUMNS} FROM content WHERE {predicate} ORDER BY {order} LIMIT $3",
                              after[0], after[1], limit)
    return [from_row(r) for r in rows]


async def iterate_all(db: Queries, batch: int = 5000):  # type: ignore[no-untyped-def]
    """Every item, in id order, fetched in batches (for building the search index)."""
    last = ""
    while True:
        rows = await db.fetch(f"SELECT {COLUMNS} FROM content WHERE id > $1 ORDER BY id LIMIT $2", last, batch)
        if not rows:
            return
        for r in rows:
            yield from_row(r)
        last = rows[-1]["id"]


EPISODE_ORDER = "season ASC, episode ASC, id ASC"


async def count_episodes(db: Queries, series_id: str) -> int:
    return int(await db.fetchval("SELECT count(*) FROM content WHERE series_id = $1", series_id))


async def list_episodes_offset(db: Queries, series_id: str, offset: int, limit: int) -> list[ContentItem]:
    rows = await db.fetch(f"SELECT {COLUMNS} FROM content WHERE series_id = $1 ORDER BY {EPISODE_ORDER}"
                          " LIMIT $2 OFFSET $3", series_id, limit, offset)
    return [from_row(r) for r in rows]


async def list_episodes_after(db: Queries, series_id: str, after: tuple | None, limit: int) -> list[ContentItem]:
    """Up to `limit` episodes of the series after (season, episode, id) `after`, in order."""
    if after is None:
        rows = await db.fetch(f"SELECT {COLUMNS} FROM content WHERE series_id = $1 ORDER BY {EPISODE_ORDER}"
                              " LIMIT $2", series_id, limit)
    else:
        rows = await db.fetch(f"SELECT {COLUMNS} FROM content WHERE series_id = $1"
                              f" AND (season, episode, id) > ($2, $3, $4) ORDER BY {EPISODE_ORDER} LIMIT $5",
                              series_id, int(after[0]), int(after[1]), str(after[2]), limit)
    return [from_row(r) for r in rows]


def episode_key(item: ContentItem) -> tuple:
    return (item.season or 0, item.episode or 0, item.id)


async def types_of(db: Queries, ids: Iterable[str]) -> dict[str, str]:
    """{id: type} of the stored items among `ids`."""
    out: dict[str, str] = {}
    ids = list(ids)
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        marks = ", ".join(f"${i + 1}" for i in range(len(chunk)))
        for r in await db.fetch(f"SELECT id, type FROM content WHERE id IN ({marks})", *chunk):
            out[r["id"]] = r["type"]
    return out


async def episodes_of(db: Queries, series_ids: Iterable[str]) -> dict[str, list[str]]:
    """{series_id: ids of its stored episodes} for those of `series_ids` that have any."""
    out: dict[str, list[str]] = {}
    series_ids = list(series_ids)
    for start in range(0, len(series_ids), 500):
        chunk = series_ids[start:start + 500]
        marks = ", ".join(f"${i + 1}" for i in range(len(chunk)))
        for r in await db.fetch(f"SELECT series_id, id FROM content WHERE series_id IN ({marks})", *chunk):
            out.setdefault(r["series_id"], []).append(r["id"])
    return out
