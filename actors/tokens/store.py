"""Account and token rows in storage: the SQL of the tokens domain, for both dialects.

Times are epoch milliseconds. Every function takes `Queries` (the storage or an open
transaction), so callers decide what runs together.
"""

from __future__ import annotations

from typing import Any

import orjson

from actors.storage import Queries

# ------------------------------------------------------------------------- users


async def insert_user(
    q: Queries, user_id: str, email: str, password_hash: str, display_name: str,
    roles: list[str], now_ms: int,
) -> None:
    """Raises `UniqueViolation` when the e-mail is taken."""
    await q.execute(
        "INSERT INTO users (id, email, password_hash, display_name, roles, created_at, updated_at)"
        " VALUES ($1, $2, $3, $4, $5, $6, $6)",
        user_id, email, password_hash, display_name, orjson.dumps(roles).decode(), now_ms,
    )


async def user_by_email(q: Queries, email: str) -> dict[str, Any] | None:
    return await q.fetchrow("SELECT id, password_hash, roles FROM users WHERE email = $1", email)


async def user_by_id(q: Queries, user_id: str) -> dict[str, Any] | None:
    return await q.fetchrow(
        "SELECT id, email, display_name, roles, created_at FROM users WHERE id = $1", user_id
    )


async def update_password_hash(q: Queries, user_id: str, password_hash: str, now_ms: int) -> None:
    await q.execute(
        "UPDATE users SET password_hash = $2, updated_at = $3 WHERE id = $1",
        user_id, password_hash, now_ms,
    )


def roles_of(row: dict[str, Any]) -> list[str]:
    roles = orjson.loads(row["roles"])
    return [r for r in roles if isinstance(r, str)] if isinstance(roles, list) else []


# ------------------------------------------------------------ families and tokens


async def insert_family(q: Queries, family_id: str, user_id: str, now_ms: int, expires_ms: int) -> None:
    await q.execute(
        "INSERT INTO token_families (id, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)",
        family_id, user_id, now_ms, expires_ms,
    )


async def insert_refresh_token(
    q: Queries, token_hash: str, family_id: str, parent_hash: str | None,
    issued_ms: int, expires_ms: int, idle_expires_ms: int, sealed: str | None = None,
) -> None:
    """`sealed`: the grant this token came with, sealed under its parent (`grace`)."""
    await q.execute(
        "INSERT INTO refresh_tokens"
        " (token_hash, family_id, parent_hash, issued_at, expires_at, idle_expires_at, sealed)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7)",
        token_hash, family_id, parent_hash, issued_ms, expires_ms, idle_expires_ms, sealed,
    )


async def refresh_token(q: Queries, token_hash: str) -> dict[str, Any] | None:
    """The token with its family's owner, revocation and expiry."""
    return await q.fetchrow(
        "SELECT t.family_id, t.used_at, t.expires_at, t.idle_expires_at,"
        "       f.user_id, f.revoked_at, f.expires_at AS family_expires_at"
        " FROM refresh_tokens t JOIN token_families f ON f.id = t.family_id"
        " WHERE t.token_hash = $1",
        token_hash,
    )


async def mark_used(q: Queries, token_hash: str, now_ms: int) -> bool:
    """Spend the token (and wipe its seal: its parent is no longer the direct
    predecessor of the newest token); False if it was already spent (by a concurrent
    refresh).

    The condition is evaluated after any concurrent writer of the row commits (a row
    lock on PostgreSQL, the single writer on SQLite), so exactly one caller wins."""
    changed = await q.execute(
        "UPDATE refresh_tokens SET used_at = $2, sealed = NULL WHERE token_hash = $1 AND used_at IS NULL",
        token_hash, now_ms,
    )
    return changed == 1


async def successor(q: Queries, parent_hash: str) -> dict[str, Any] | None:
    """The token that `parent_hash` was rotated into, if any (at most one: a token is
    spent once)."""
    return await q.fetchrow(
        "SELECT token_hash, issued_at, used_at, sealed FROM refresh_tokens WHERE parent_hash = $1",
        parent_hash,
    )


async def wipe_seals(q: Queries, issued_before_ms: int) -> int:
    """Forget the seals of tokens issued before the grace interval began."""
    return await q.execute(
        "UPDATE refresh_tokens SET sealed = NULL WHERE sealed IS NOT NULL AND issued_at < $1",
        issued_before_ms,
    )


async def revoke_family(q: Queries, family_id: str, now_ms: int, reason: str) -> bool:
    """Mark the family revoked; False if it already was (or does not exist)."""
    changed = await q.execute(
        "UPDATE token_families SET revoked_at = $2, revoke_reason = $3"
        " WHERE id = $1 AND revoked_at IS NULL",
        family_id, now_ms, reason,
    )
    return changed == 1


async def family(q: Queries, family_id: str) -> dict[str, Any] | None:
    return await q.fetchrow(
        "SELECT id, user_id, revoked_at, revoke_reason, expires_at FROM token_families WHERE id = $1",
        family_id,
    )


async def revoked_since(q: Queries, since_ms: int) -> list[dict[str, Any]]:
    return await q.fetch(
        "SELECT id, revoked_at, revoke_reason FROM token_families"
        " WHERE revoked_at IS NOT NULL AND revoked_at >= $1",
        since_ms,
    )


async def families_past(q: Queries, user_id: str, now_ms: int, keep: int) -> list[str]:
    """The user's live families (unrevoked, unexpired) beyond the `keep` newest."""
    rows = await q.fetch(
        "SELECT id FROM token_families WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2"
        " ORDER BY created_at DESC, id DESC LIMIT 1000 OFFSET $3",
        user_id, now_ms, keep,
    )
    return [r["id"] for r in rows]


async def prune_spent_tokens(q: Queries, family_id: str, keep: int) -> int:
    """Delete the family's spent refresh tokens older than its `keep` newest tokens."""
    return await q.execute(
        "DELETE FROM refresh_tokens WHERE family_id = $1 AND used_at IS NOT NULL AND issued_at <"
        " (SELECT issued_at FROM refresh_tokens WHERE family_id = $1 ORDER BY issued_at DESC LIMIT 1 OFFSET $2)",
        family_id, keep,
    )


async def purge_expired_families(q: Queries, now_ms: int) -> int:
    """Drop families past their absolute expiry; their refresh tokens go with them."""
    await q.execute(
        "DELETE FROM refresh_tokens WHERE family_id IN"
        " (SELECT id FROM token_families WHERE expires_at < $1)",
        now_ms,
    )
    return await q.execute("DELETE FROM token_families WHERE expires_at < $1", now_ms)
