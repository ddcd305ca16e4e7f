"""Playback rows in storage: sessions and the latest position per user and item.

`playback_positions.position_ms` is the position last reported (clamped to the item),
`completed` what the resume rules said about it when it was written. Writes are
last-write-wins on `updated_at`, so two nodes (or a late batch) never put an older
position over a newer one.
"""

from __future__ import annotations

from typing import Any, Iterable, Sequence

from actors.playback.model import Entry, Session
from actors.playback.rules import ResumeRules
from actors.storage import Queries

UPSERT_POSITION = """
INSERT INTO playback_positions (user_id, content_id, position_ms, duration_ms, completed, updated_at)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (user_id, content_id) DO UPDATE SET
    position_ms = excluded.position_ms, duration_ms = excluded.duration_ms,
    completed = excluded.completed, updated_at = excluded.updated_at
WHERE excluded.updated_at >= playback_positions.updated_at
"""

INSERT_SESSION = """
INSERT INTO playback_sessions
    (id, user_id, content_id, device_id, position_ms, started_at, last_seen_at, duration_ms)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
"""

END_SESSION = """
UPDATE playback_sessions SET ended_at = $1, last_seen_at = $2, position_ms = $3
WHERE id = $4 AND ended_at IS NULL
"""

TOUCH_SESSION = """
UPDATE playback_sessions SET last_seen_at = $1, position_ms = $2 WHERE id = $3 AND ended_at IS NULL
"""


def position_row(user_id: str, content_id: str, entry: Entry, rules: ResumeRules) -> tuple:
    completed = rules.evaluate(entry.position_ms, entry.duration_ms).completed
    return (user_id, content_id, entry.position_ms, entry.duration_ms, int(completed), entry.updated_at)


async def write_positions(db: Queries, rows: Sequence[tuple]) -> None:
    """One batched statement (atomic) for every row."""
    await db.executemany(UPSERT_POSITION, rows)


async def get_position(db: Queries, user_id: str, content_id: str) -> dict[str, Any] | None:
    return await db.fetchrow(
        "SELECT position_ms, duration_ms, completed, updated_at FROM playback_positions"
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


async def end_sessions(db: Queries, ended: Iterable[tuple[str, int, int, int]]) -> None:
    """(session_id, ended_at, last_seen_at, position_ms) for each session to close."""
    rows = [(ended_at, last_seen, position, sid) for sid, ended_at, last_seen, position in ended]
    if rows:
        await db.executemany(END_SESSION, rows)


async def touch_sessions(db: Queries, touched: Iterable[tuple[str, int, int]]) -> None:
    """(session_id, last_seen_at, position_ms) for each open session seen lately."""
    rows = [(last_seen, position, sid) for sid, last_seen, position in touched]
    if rows:
        await db.executemany(TOUCH_SESSION, rows)


def _resumable(rules: ResumeRules, first: int) -> tuple[str, list[Any]]:
    """Rules 1, 2 and 4 of `ResumeRules` in SQL (rule 3 is the stored `completed`): the
    rows continue watching lists. Kept in step with `ResumeRules.evaluate` by a test."""
    sql = (f"completed = 0 AND duration_ms > 0 AND duration_ms >= CAST(${first} AS DOUBLE PRECISION)"
           f" AND position_ms * 100 >= CAST(${first + 1} AS DOUBLE PRECISION) * duration_ms")
    return sql, [float(rules.min_resume_duration_s) * 1000, float(rules.min_resume_pct)]


_COLUMNS = "content_id, position_ms, duration_ms, updated_at"
_ORDER = "ORDER BY updated_at DESC, content_id ASC"


async def count_resumable(db: Queries, user_id: str, rules: ResumeRules) -> int:
    where, args = _resumable(rules, 2)
    return int(await db.fetchval(f"SELECT count(*) FROM playback_positions WHERE user_id = $1 AND {where}",
                                 user_id, *args))


async def list_resumable_offset(db: Queries, user_id: str, rules: ResumeRules, offset: int, limit: int) -> list[dict]:
    where, args = _resumable(rules, 2)
    return await db.fetch(
        f"SELECT {_COLUMNS} FROM playback_positions WHERE user_id = $1 AND {where} {_ORDER} LIMIT $4 OFFSET $5",
        user_id, *args, limit, offset,
    )


async def list_resumable_after(db: Queries, user_id: str, rules: ResumeRules, after: tuple | None,
                               limit: int) -> list[dict]:
    """Most recent first; `after` is the (updated_at, content_id) of the last row seen."""
    where, args = _resumable(rules, 2)
    if after is None:
        return await db.fetch(
            f"SELECT {_COLUMNS} FROM playback_positions WHERE user_id = $1 AND {where} {_ORDER} LIMIT $4",
            user_id, *args, limit,
        )
    updated_at, content_id = after
    return await db.fetch(
        f"SELECT {_COLUMNS} FROM playback_positions WHERE user_id = $1 AND {where}"
        f" AND (updated_at < $4 OR (updated_at = $4 AND content_id > $5)) {_ORDER} LIMIT $6",
        user_id, *args, int(updated_at), str(content_id), limit,
    )
