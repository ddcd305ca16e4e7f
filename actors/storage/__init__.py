"""The storage port and its two adapters, PostgreSQL and SQLite.

    async with connect_storage(url, pool_size=10, timeout=5.0) as storage:
        await migrate(storage)
        row = await storage.fetchrow("SELECT * FROM users WHERE email = $1", email)
        async with storage.transaction() as tx:
            await tx.execute("UPDATE ...", ...)

``url`` is ``sqlite:///relative/path.db``, ``sqlite:////absolute/path.db`` or
``postgresql://...``; nothing else in the program needs to know which. The
PostgreSQL adapter needs a running ``trio_asyncio.open_loop()`` around the program.
See `port` for the SQL both dialects accept alike and `errors` for what is raised.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import trio

from .errors import (
    IntegrityViolation,
    MigrationError,
    StorageError,
    StorageTimeout,
    StorageUnavailable,
    UniqueViolation,
)
from .migrations import MIGRATIONS_ROOT, migrate
from .port import Queries, Row, Storage, Tx
from .sql import placeholders

__all__ = [
    "MIGRATIONS_ROOT",
    "IntegrityViolation",
    "MigrationError",
    "Queries",
    "Row",
    "Storage",
    "StorageError",
    "StorageTimeout",
    "StorageUnavailable",
    "Tx",
    "UniqueViolation",
    "connect_storage",
    "dialect_of",
    "migrate",
    "open_storage",
    "placeholders",
]


def dialect_of(url: str) -> str:
    """ "postgres" or "sqlite" for a database URL; ValueError for anything else."""
    if url.startswith(("postgresql://", "postgres://")):
        return "postgres"
    if url.startswith("sqlite:"):
        return "sqlite"
    raise ValueError(f"unsupported database URL {url.split('://')[0]!r}: use sqlite:/// or postgresql://")


async def open_storage(url: str, *, pool_size: int = 10, timeout: float = 5.0) -> Storage:
    """Open the storage for ``url``; the caller must ``await storage.close()``.
    Raises `StorageUnavailable` if the database cannot be reached or created."""
    if pool_size < 1:
        raise ValueError("pool_size must be at least 1")
    if timeout <= 0:
        raise ValueError("timeout must be positive")
    if dialect_of(url) == "postgres":
        from .postgres import open_postgres

        return await open_postgres(url, pool_size=pool_size, timeout=timeout)
    from .sqlite import open_sqlite

    return await open_sqlite(url, pool_size=pool_size, timeout=timeout)


@asynccontextmanager
async def connect_storage(
    url: str, *, pool_size: int = 10, timeout: float = 5.0
) -> AsyncIterator[Storage]:
    """`open_storage` as a context manager that closes the storage on exit, even
    when cancelled (closing is shielded and bounded by ``timeout``)."""
    storage = await open_storage(url, pool_size=pool_size, timeout=timeout)
    try:
        yield storage
    finally:
        with trio.CancelScope(shield=True):
            await storage.close()
