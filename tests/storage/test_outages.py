"""Outages: a database that is unreachable, goes away, hangs, and comes back.

PostgreSQL is taken away through a TCP proxy in front of the shared server, so the
server itself keeps running for everyone else."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
import trio

from actors.storage import (
    Storage,
    StorageTimeout,
    StorageUnavailable,
    connect_storage,
    open_storage,
)

from tests.services import free_port
from .helpers import TcpProxy


async def test_unreachable_postgres_is_unavailable(aio_loop: object) -> None:
    started = time.monotonic()
    with pytest.raises(StorageUnavailable):
        await open_storage(f"postgresql://postgres@127.0.0.1:{free_port()}/postgres", timeout=2)
    assert time.monotonic() - started < 2


async def test_unopenable_sqlite_file_is_unavailable(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("not a folder")
    with pytest.raises(StorageUnavailable):
        await open_storage(f"sqlite:///{tmp_path}/a-file/gateway.db")


def test_unknown_url_scheme_is_refused() -> None:
    with pytest.raises(ValueError, match="unsupported database URL"):
        trio.run(open_storage, "mysql://localhost/db")


def through(proxy: TcpProxy, url: str) -> str:
    parts = urlsplit(url)
    netloc = f"{parts.username}@127.0.0.1:{proxy.port}" if parts.username else f"127.0.0.1:{proxy.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))


@pytest.fixture
async def proxied(aio_loop: object, pg_url: str) -> AsyncIterator[tuple[TcpProxy, Storage]]:
    target = urlsplit(pg_url)
    async with trio.open_nursery() as nursery:
        proxy = TcpProxy(nursery, target.hostname or "127.0.0.1", target.port or 5432)
        await proxy.start()
        async with connect_storage(through(proxy, pg_url), pool_size=3, timeout=1.0) as storage:
            await storage.execute("CREATE TABLE t (id BIGINT PRIMARY KEY)")
            yield proxy, storage
        nursery.cancel_scope.cancel()


async def test_postgres_outage_fails_fast_and_recovers_without_restart(
    proxied: tuple[TcpProxy, Storage], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="actors.storage")
    proxy, storage = proxied
    assert await storage.execute("INSERT INTO t VALUES ($1)", 1) == 1
    assert storage.healthy

    proxy.cut()  # the server "stops": every connection closes, new ones are refused
    for _ in range(3):
        started = time.monotonic()
        with pytest.raises(StorageUnavailable):
            await storage.fetchval("SELECT count(*) FROM t")
        assert time.monotonic() - started < 1.0
    with pytest.raises(StorageUnavailable):
        async with storage.transaction() as tx:
            await tx.execute("INSERT INTO t VALUES ($1)", 2)
    assert not storage.healthy
    assert caplog.text.count("PostgreSQL unreachable") == 1  # once per outage

    await proxy.restore()  # the server is back: the same storage works again
    assert await storage.fetchval("SELECT count(*) FROM t") == 1
    assert storage.healthy and storage.outages == 1
    assert "PostgreSQL reachable again" in caplog.text
    async with storage.transaction() as tx:
        await tx.execute("INSERT INTO t VALUES ($1)", 2)
    assert await storage.fetchval("SELECT count(*) FROM t") == 2


async def test_postgres_hang_times_out(proxied: tuple[TcpProxy, Storage]) -> None:
    proxy, storage = proxied
    assert await storage.fetchval("SELECT count(*) FROM t") == 0

    proxy.stall()  # packets stop flowing; nothing is refused
    started = time.monotonic()
    with pytest.raises(StorageTimeout):
        await storage.fetchval("SELECT count(*) FROM t")
    assert time.monotonic() - started < 1.5

    proxy.cut()
    await proxy.restore()
    with trio.fail_after(5):
        while True:  # connections broken by the cut are replaced on first use
            try:
                assert await storage.fetchval("SELECT count(*) FROM t") == 0
                break
            except StorageUnavailable:
                await trio.sleep(0.01)
