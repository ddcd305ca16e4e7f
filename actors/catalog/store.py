"""Catalog rows in storage: the SQL for content, shared by the actor and the CLI."""

from __future__ import annotations

from typing import Any, Iterable, Sequence

import orjson

from actors.catalog.model import ContentItem
from actors.storage import Queries

COLUMNS = "id, title, type, year, genres, platforms, rating, popularity, duration_ms"

UPSERT_SQL = f"""
INSERT INTO content ({COLUMNS}, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
ON CONFLICT (id) DO UPDATE SET
    title = excluded.title, type = excluded.type, year = excluded.year,
    genres = excluded.genres, platforms = excluded.platforms, rating = excluded.rating,
    popularity = excluded.popularity, duration_ms = excluded.duration_ms,
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
            int(item.duration_ms), now_ms)


def from_row(row: Any) -> ContentItem:
    return ContentItem(
        id=row["id"], title=row["title"], type=row["type"], year=int(row["year"]),
        genres=tuple(orjson.loads(row["genres"])), platforms=tuple(orjson.loads(row["platforms"])),
        rating=float(row["rating"]), popularity=float(row["popularity"]), duration_ms=int(row["duration_ms"]),
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
