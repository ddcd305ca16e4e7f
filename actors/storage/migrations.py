"""The migration runner: numbered SQL files applied in order, once each.

Files are ``migrations/<dialect>/NNNN_name.sql``. Each pending file runs in its own
transaction together with its row in ``schema_migrations`` (name, sha256 checksum,
time), so a failed migration leaves nothing behind. A file that was applied and then
edited is refused: its checksum no longer matches the record.

Several runners may start at once (several nodes, or a CLI beside a gateway). Each
migration's transaction first takes a lock — ``pg_advisory_xact_lock`` on PostgreSQL,
the write lock of ``BEGIN IMMEDIATE`` on SQLite — then re-reads the record, so the
first runner applies it and the others see it done.
"""

from __future__ import annotations

import hashlib
import re
import time
from pathlib import Path

import attrs

from .errors import MigrationError, StorageError, StorageTimeout, StorageUnavailable
from .port import Storage, Tx

MIGRATIONS_ROOT = Path(__file__).resolve().parents[2] / "migrations"

# An arbitrary fixed key shared by every runner of this application ("mgmigrat").
ADVISORY_LOCK_KEY = 0x6D676D6967726174

_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")

_LEDGER = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    name TEXT PRIMARY KEY,
    checksum TEXT NOT NULL,
    applied_at BIGINT NOT NULL
)
"""


@attrs.frozen
class Migration:
    name: str
    sql: str
    checksum: str


def load_migrations(directory: Path) -> list[Migration]:
    """The migrations of ``directory`` in order. Every ``.sql`` file must be named
    ``NNNN_lowercase_name.sql`` with a unique number."""
    if not directory.is_dir():
        raise MigrationError(f"no migrations folder at {directory}")
    by_number: dict[str, Migration] = {}
    for path in sorted(directory.glob("*.sql")):
        match = _NAME.match(path.name)
        if match is None:
            raise MigrationError(
                f"migration file {path.name!r} is not named NNNN_lowercase_name.sql"
            )
        number = match.group(1)
        if number in by_number:
            raise MigrationError(
                f"migrations {by_number[number].name!r} and {path.name!r} share number {number}"
            )
        data = path.read_bytes()
        by_number[number] = Migration(
            name=path.name,
            sql=data.decode("utf-8"),
            checksum=hashlib.sha256(data).hexdigest(),
        )
    return [by_number[n] for n in sorted(by_number)]


async def _lock(tx: Tx, dialect: str) -> None:
    if dialect == "postgres":
        await tx.fetchval("SELECT pg_advisory_xact_lock($1)", ADVISORY_LOCK_KEY)
    # SQLite: the transaction began with BEGIN IMMEDIATE, which is the lock.


def _edited(migration: Migration, recorded: str) -> MigrationError:
    return MigrationError(
        f"migration {migration.name} was edited after it was applied "
        f"(recorded checksum {recorded[:12]}…, file now {migration.checksum[:12]}…). "
        "Restore the file as it was and put the change in a new migration."
    )


async def migrate(
    storage: Storage, directory: Path | None = None, *, timeout: float = 300.0
) -> list[str]:
    """Apply the pending migrations of ``storage.dialect`` (or of ``directory``) and
    return the names applied, in order; ``[]`` when all were applied already.

    Raises `MigrationError` before applying anything if an applied file was edited,
    and when a migration fails (it is rolled back; earlier ones stay applied).
    ``timeout`` bounds each statement, generously, for index builds.
    """
    folder = directory if directory is not None else MIGRATIONS_ROOT / storage.dialect
    migrations = load_migrations(folder)

    async with storage.transaction(timeout=timeout) as tx:
        await _lock(tx, storage.dialect)
        await tx.execute(_LEDGER)
    rows = await storage.fetch("SELECT name, checksum FROM schema_migrations")
    recorded = {row["name"]: row["checksum"] for row in rows}
    for migration in migrations:
        if migration.name in recorded and recorded[migration.name] != migration.checksum:
            raise _edited(migration, recorded[migration.name])

    applied: list[str] = []
    for migration in migrations:
        if migration.name in recorded:
            continue
        if await _apply(storage, migration, timeout):
            applied.append(migration.name)
    return applied


async def _apply(storage: Storage, migration: Migration, timeout: float) -> bool:
    """Apply one migration unless another runner did meanwhile; True if applied."""
    try:
        async with storage.transaction(timeout=timeout) as tx:
            await _lock(tx, storage.dialect)
            checksum = await tx.fetchval(
                "SELECT checksum FROM schema_migrations WHERE name = $1", migration.name
            )
            if checksum is not None:
                if checksum != migration.checksum:
                    raise _edited(migration, checksum)
                return False
            await tx.execute_script(migration.sql)
            await tx.execute(
                "INSERT INTO schema_migrations (name, checksum, applied_at) "
                "VALUES ($1, $2, $3)",
                migration.name,
                migration.checksum,
                int(time.time() * 1000),
            )
    except (MigrationError, StorageUnavailable, StorageTimeout):
        raise
    except StorageError as exc:
        raise MigrationError(f"migration {migration.name} failed and was rolled back: {exc}") from exc
    return True
