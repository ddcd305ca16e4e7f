"""Playback rows in storage: sessions and the latest position per user and item.

`playback_positions.position_ms` is the position last reported (clamped to the item),
`completed` what the resume rules said about it when it was written. Writes are
last-write-wins on `updated_at`, so two nodes (or a late batch) never put an older
position over a newer one.

`playback_sessions` holds the open sessions only: storage is the arbiter of a session's
end. Ending one deletes its row, and only the node whose delete found the row ended it
(a stop elsewhere, or a second stop, finds none: -32004). The batched writes of
positions write a row only while the session it came from is open, so a position a
node took for a session another node had stopped (before the notice came) never lands
over the stop's. Rows of sessions nobody holds any more (a node that died) are deleted
once they are older than the idle timeout, by any node's sweep: a user's rows are
bounded by their open sessions.
"""

from __future__ import annotations

from typing import Any, Iterable, Sequence

from actors.playback.model import Entry, Session
from actors.playback.rules import ResumeRules
from actors.storage import Queries

_ON_CONFLICT = """
ON CONFLICT (user_id, content_id) DO UPDATE SET
    position_ms = excluded.position_ms, duration_ms = excluded.duration_ms,
    completed = excluded.completed,
    played = CASE WHEN excluded.completed = 1 THEN 1 ELSE playback_positions.played END,
    updated_at = excluded.updated_at
WHERE excluded.updated_at >= playback_positions.updated_at
"""
UPSERT_POSITION = """
INSERT INTO playback_positions (user_id, content_id, position_ms, duration_ms, completed, played, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, $7)""" + _ON_CONFLICT
"""A position never clears `played` (rules.PLAYED_RULES): finishing sets it, the rest keep it."""

UPSERT_OPEN_POSITION = """
INSERT INTO playback_positions (user_id, content_id, position_ms, duration_ms, completed, played, updated_at)
SELECT CAST($1 AS TEXT), CAST($2 AS TEXT), CAST($3 AS BIGINT), CAST($4 AS BIGINT), CAST($5 AS SMALLINT),
       CAST($6 AS SMALLINT), CAST($7 AS BIGINT)
WHERE EXISTS (SELECT 1 FROM playback_sessions WHERE id = $8 AND ended_at IS NULL)""" + _ON_CONFLICT
"""`UPSERT_POSITION` of a position reported in session $8, written only while it is open."""

MARK_POSITION = """
INSERT INTO playback_positions (user_id, content_id, position_ms, duration_ms, completed, played, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (user_id, content_id) DO UPDATE SET
    position_ms = excluded.position_ms, duration_ms = excluded.duration_ms,
    completed = excluded.completed, played = excluded.played, updated_at = excluded.updated_at
WHERE excluded.updated_at >= playback_positions.updated_at
"""

INSERT_SESSION = """
INSERT INTO playback_sessions
    (id, user_id, content_id, device_id, position_ms, started_at, last_seen_at, duration_ms)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
"""

END_SESSION = "DELETE FROM playback_sessions WHERE id = $1 AND ended_at IS NULL RETURNING id"

TOUCH_SESSION = """
UPDATE playback_sessions SET last_seen_at = $1, position_ms = $2 WHERE id = $3 AND ended_at IS NULL
"""


def position_row(user_id: str, content_id: str, entry: Entry, rules: ResumeRules) -> tuple:
    """The row of `entry` for `write_positions`: its values, then the session it came from."""
    completed = entry.marked or rules.evaluate(entry.position_ms, entry.duration_ms).completed
    return (user_id, content_id, entry.position_ms, entry.duration_ms, int(completed), int(completed),
            entry.updated_at, entry.session_id)


async def write_mark(db: Queries, user_id: str, content_id: str, entry: Entry) -> None:
    """A mark_played state (`entry` as `Entry.mark` left it), written at once."""
    await db.execute(MARK_POSITION, user_id, content_id, entry.position_ms, entry.duration_ms,
                     int(entry.marked), int(entry.played), entry.updated_at)


async def write_positions(db: Queries, rows: Sequence[tuple]) -> None:
    """`position_row`s in one batched statement (atomic), each only while its session is
    open."""
    await db.executemany(UPSERT_OPEN_POSITION, rows)


async def write_positions_now(db: Queries, rows: Sequence[tuple]) -> None:
    """`position_row`s of sessions being ended in this transaction: whatever their state."""
    await db.executemany(UPSERT_POSITION, [row[:7] for row in rows])


async def get_position(db: Queries, user_id: str, content_id: str) -> dict[str, Any] | None:
    return await db.fetchrow(
        "SELECT position_ms, duration_ms, completed, played, updated_at FROM playback_positions"
        " WHERE user_id = $1 AND content_id = $2",
        user_id, content_id,
    )


async def insert_session(db: Queries, session: Session, position_ms: int, last_seen_ms: int) -> None:
    key = session.key
    await db.execute(INSERT_SESSION, key.session_id, key.user_id, key.content_id, session.device_id,
                     position_ms, session.started_at, last_seen_ms, key.duration_ms)


async def get_session(db: Queries, session_id: str) -> dict[str, Any] | None:
    return await db.fetchrow(
        "SELECT id, user_id, content_id, device_id, started_at, last_seen_at, ended_at, duration_ms"
        " FROM playback_sessions WHERE id = $1",
        session_id,
    )


async def end_sessions(db: Queries, session_ids: Iterable[str]) -> list[str]:
    """End each of `session_ids` that is still open; the ones this call ended (a
    session ended before, here or on another node, is not among them)."""
    ended = []
    for sid in session_ids:
        if await db.fetch(END_SESSION, sid):
            ended.append(sid)
    return ended


async def purge_stale_sessions(db: Queries, seen_before_ms: int) -> int:
    """Delete open sessions not seen since `seen_before_ms` (their node died: a live
    node closes them at the idle timeout) and rows of sessions ended before ended
    sessions were deleted; how many."""
    return await db.execute(
        "DELETE FROM playback_sessions WHERE ended_at IS NOT NULL OR last_seen_at < $1", seen_before_ms)


async def touch_sessions(db: Queries, touched: Iterable[tuple[str, int, int]]) -> None:
    """(session_id, last_seen_at, position_ms) for each open session seen lately."""
    rows = [(last_seen, position, sid) for sid, last_seen, position in touched]
    if rows:
        await db.executemany(TOUCH_SESSION, rows)


async def ended_among(db: Queries, session_ids: list[str]) -> list[str]:
    """Those of `session_ids` that are not open in storage (ended, or gone)."""
    ended: list[str] = []
    for start in range(0, len(session_ids), 500):
        chunk = session_ids[start:start + 500]
        marks = ", ".join(f"${i + 1}" for i in range(len(chunk)))
        rows = await db.fetch(f"SELECT id FROM playback_sessions WHERE id IN ({marks}) AND ended_at IS NULL",
                              *chunk)
        open_ = {r["id"] for r in rows}
        ended.extend(sid for sid in chunk if sid not in open_)
    return ended


def _resumable(rules: ResumeRules, first: int) -> tuple[str, list[Any]]:
    """Rules 1, 2 and 4 of `ResumeRules` in SQL (rule 3 is the stored `completed`): the
    rows continue watching lists. Kept in step with `ResumeRules.evaluate` by a test."""
    sql = (f"completed = 0 AND duration_ms > 0 AND duration_ms >= CAST(${first} AS DOUBLE PRECISION)"
           f" AND position_ms * 100 >= CAST(${first + 1} AS DOUBLE PRECISION) * duration_ms")
    return sql, [float(rules.min_resume_duration_s) * 1000, float(rules.min_resume_pct)]


_COLUMNS = "content_id, position_ms, duration_ms, updated_at"
_ORDER = "ORDER BY updated_at DESC, content_id ASC"

# The user's latest activity per series (per item outside a series): continue
# watching lists it when it can be resumed, so a series shows once, with the episode
# in progress, and not at all once its latest episode is finished (Next Up has it).
# Reads the content table for series_id (same database; read only).
_LATEST = """
WITH mine AS (
    SELECT p.content_id, p.position_ms, p.duration_ms, p.updated_at, p.completed,
           CASE WHEN c.series_id IS NULL OR c.series_id = '' THEN p.content_id ELSE c.series_id END AS grp
    FROM playback_positions p LEFT JOIN content c ON c.id = p.content_id
    WHERE p.user_id = $1),
latest AS (
    SELECT content_id, position_ms, duration_ms, updated_at, completed,
           ROW_NUMBER() OVER (PARTITION BY grp ORDER BY updated_at DESC, content_id ASC) AS rn
    FROM mine)
"""


async def count_resumable(db: Queries, user_id: str, rules: ResumeRules) -> int:
    where, args = _resumable(rules, 2)
    return int(await db.fetchval(f"{_LATEST} SELECT count(*) FROM latest WHERE rn = 1 AND {where}",
                                 user_id, *args))


async def list_resumable_offset(db: Queries, user_id: str, rules: ResumeRules, offset: int, limit: int) -> list[dict]:
    where, args = _resumable(rules, 2)
    return await db.fetch(
        f"{_LATEST} SELECT {_COLUMNS} FROM latest WHERE rn = 1 AND {where} {_ORDER} LIMIT $4 OFFSET $5",
        user_id, *args, limit, offset,
    )


async def list_resumable_after(db: Queries, user_id: str, rules: ResumeRules, after: tuple | None,
                               limit: int) -> list[dict]:
    """Most recent first; `after` is the (updated_at, content_id) of the last row seen."""
    where, args = _resumable(rules, 2)
    if after is None:
        return await db.fetch(
            f"{_LATEST} SELECT {_COLUMNS} FROM latest WHERE rn = 1 AND {where} {_ORDER} LIMIT $4",
            user_id, *args, limit,
        )
    updated_at, content_id = after
    return await db.fetch(
        f"{_LATEST} SELECT {_COLUMNS} FROM latest WHERE rn = 1 AND {where}"
        f" AND (updated_at < $4 OR (updated_at = $4 AND content_id > $5)) {_ORDER} LIMIT $6",
        user_id, *args, int(updated_at), str(content_id), limit,
    )


# Next Up (Jellyfin's): for each series with a finished episode (completed: by its
# position or marked played; a played episode being replayed is not finished until it
# is again), the episode after the most recently finished one in (season, episode, id) order; unless $2 (rewatching) is
# 1, the first such episode the user has not played. Most recently watched series
# first. Reads the content table (same database; read only).
_NEXT_UP = """
WITH mine AS (
    SELECT c.series_id, c.season, c.episode, c.id, p.updated_at, p.played, p.completed
    FROM playback_positions p JOIN content c ON c.id = p.content_id
    WHERE p.user_id = $1 AND c.series_id <> ''),
recency AS (SELECT series_id, MAX(updated_at) AS watched_at FROM mine GROUP BY series_id),
finished AS (
    SELECT series_id, season, episode, id,
           ROW_NUMBER() OVER (PARTITION BY series_id
                              ORDER BY updated_at DESC, season DESC, episode DESC, id DESC) AS rn
    FROM mine WHERE completed = 1),
next_up AS (
    SELECT f.series_id, r.watched_at,
           (SELECT e.id FROM content e
            WHERE e.series_id = f.series_id AND (e.season, e.episode, e.id) > (f.season, f.episode, f.id)
              AND (CAST($2 AS INTEGER) = 1 OR NOT EXISTS (
                  SELECT 1 FROM playback_positions q
                  WHERE q.user_id = $1 AND q.content_id = e.id AND q.played = 1))
            ORDER BY e.season, e.episode, e.id LIMIT 1) AS next_id
    FROM finished f JOIN recency r ON r.series_id = f.series_id
    WHERE f.rn = 1)
"""
_NEXT_ORDER = "ORDER BY watched_at DESC, series_id ASC"


async def count_next_up(db: Queries, user_id: str, rewatching: bool) -> int:
    return int(await db.fetchval(f"{_NEXT_UP} SELECT count(*) FROM next_up WHERE next_id IS NOT NULL",
                                 user_id, int(rewatching)))


async def list_next_up_offset(db: Queries, user_id: str, rewatching: bool, offset: int, limit: int) -> list[dict]:
    return await db.fetch(
        f"{_NEXT_UP} SELECT series_id, next_id, watched_at FROM next_up WHERE next_id IS NOT NULL"
        f" {_NEXT_ORDER} LIMIT $3 OFFSET $4", user_id, int(rewatching), limit, offset)


async def list_next_up_after(db: Queries, user_id: str, rewatching: bool, after: tuple | None,
                             limit: int) -> list[dict]:
    """`after` is the (watched_at, series_id) of the last row seen."""
    if after is None:
        return await db.fetch(
            f"{_NEXT_UP} SELECT series_id, next_id, watched_at FROM next_up WHERE next_id IS NOT NULL"
            f" {_NEXT_ORDER} LIMIT $3", user_id, int(rewatching), limit)
    return await db.fetch(
        f"{_NEXT_UP} SELECT series_id, next_id, watched_at FROM next_up WHERE next_id IS NOT NULL"
        f" AND (watched_at < $3 OR (watched_at = $3 AND series_id > $4)) {_NEXT_ORDER} LIMIT $5",
        user_id, int(rewatching), int(after[0]), str(after[1]), limit)
