"""The outside services a gateway process opens: storage (migrated), the key-value
store, and the secret its tokens and cursors are signed with."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import attrs

from actors.kv import KV, connect_kv
from actors.storage import Storage, connect_storage, dialect_of, migrate
from gateway.config import Config

log = logging.getLogger("gateway")


@attrs.frozen
class Services:
    storage: Storage
    kv: KV
    jwt_secret: str


@asynccontextmanager
async def asyncio_bridge(config: Config) -> AsyncIterator[None]:
    """trio-asyncio's loop, opened only when an asyncio driver (asyncpg, redis) is used."""
    if dialect_of(config.effective_database_url) == "postgres" or config.redis_url:
        import trio_asyncio

        async with trio_asyncio.open_loop():
            yield
    else:
        yield


@asynccontextmanager
async def open_services(config: Config) -> AsyncIterator[Services]:
    """Storage (migrated), the key-value store and the secret, for serve."""
    async with connect_storage(config.effective_database_url, pool_size=config.db_pool_size,
                               timeout=config.db_timeout) as storage:
        await apply_migrations(storage)
        async with connect_kv(config.redis_url) as kv:
            yield Services(storage, kv, config.effective_jwt_secret())


async def apply_migrations(storage: Storage) -> None:
    """Apply what is pending (each migration once, whoever else migrates at the same
    time: see actors.storage.migrate), logging each."""
    for name in await migrate(storage):
        log.info("applied migration %s", name, extra={"event": "migration.applied", "migration": name})
