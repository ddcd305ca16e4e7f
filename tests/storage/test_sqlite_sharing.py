"""SQLite specifics: WAL, and sharing the file with another process (a CLI
``create-user`` beside a running gateway)."""

from __future__ import annotations

import sqlite3
import sys
import textwrap
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trio

from actors.storage import Storage, StorageTimeout, connect_storage, migrate
from actors.storage.migrations import MIGRATIONS_ROOT

REPO = MIGRATIONS_ROOT.parent

INSERT_USER = (
    "INSERT INTO users (id, email, password_hash, created_at, updated_at) "
    "VALUES ($1, $2, $3, $4, $5)"
)


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/data/gateway.db"


@pytest.fixture
async def gateway(url: str) -> AsyncIterator[Storage]:
    async with connect_storage(url, timeout=2.0) as storage:
        await migrate(storage)
        yield storage


async def test_file_is_in_wal_mode_with_foreign_keys(gateway: Storage) -> None:
    assert await gateway.fetchval("PRAGMA journal_mode") == "wal"
    assert await gateway.fetchval("PRAGMA foreign_keys") == 1


async def test_another_process_writes_while_the_gateway_runs(gateway: Storage, url: str) -> None:
    cli = textwrap.dedent(
        f"""
        import trio
        from actors.storage import connect_storage, migrate

        async def main():
            async with connect_storage({url!r}) as storage:
                assert await migrate(storage) == []
                await storage.execute({INSERT_USER!r}, "u1", "a@example.com", "h", 1, 1)

        trio.run(main)
        """
    )
    await gateway.execute(INSERT_USER, "u0", "z@example.com", "h", 1, 1)
    await trio.run_process([sys.executable, "-c", cli], cwd=REPO)
    # Seen at once by the running storage's readers and writer.
    row = await gateway.fetchrow("SELECT id FROM users WHERE email = $1", "a@example.com")
    assert row == {"id": "u1"}
    await gateway.execute("UPDATE users SET display_name = $2 WHERE id = $1", "u1", "Ada")
    assert await gateway.fetchval("SELECT count(*) FROM users") == 2


def _hold_write_lock(
    path: str, seconds: float, token: trio.lowlevel.TrioToken, locked: trio.Event
) -> None:
    """Another writer (in a thread, with its own connection, as another process
    would be): takes the write lock, says so, holds it for ``seconds``."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(
            "INSERT INTO users (id, email, password_hash, created_at, updated_at) "
            "VALUES ('other', 'other@example.com', 'h', 1, 1)"
        )
        token.run_sync_soon(locked.set)
        time.sleep(seconds)
        conn.execute("COMMIT")
    finally:
        conn.close()


async def test_writer_waits_for_a_lock_held_elsewhere(gateway: Storage, url: str) -> None:
    path = url.removeprefix("sqlite:///")
    locked = trio.Event()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(
            trio.to_thread.run_sync, _hold_write_lock, path, 0.3, trio.lowlevel.current_trio_token(), locked
        )
        await locked.wait()
        # Readers are not blocked by the other writer...
        assert await gateway.fetchval("SELECT count(*) FROM users") == 0
        # ...and a write waits for its lock, within the timeout, then succeeds.
        await gateway.execute(INSERT_USER, "u1", "a@example.com", "h", 1, 1)
    assert await gateway.fetchval("SELECT count(*) FROM users") == 2


async def test_lock_held_elsewhere_past_the_timeout_times_out(url: str) -> None:
    async with connect_storage(url, timeout=0.3) as storage:
        await migrate(storage)
        path = url.removeprefix("sqlite:///")
        locked = trio.Event()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(
                trio.to_thread.run_sync, _hold_write_lock, path, 1.0, trio.lowlevel.current_trio_token(), locked
            )
            await locked.wait()
            started = time.monotonic()
            with pytest.raises(StorageTimeout):
                await storage.execute(INSERT_USER, "u1", "a@example.com", "h", 1, 1)
            assert time.monotonic() - started < 0.9
        # Once the other writer is done, writes go through again.
        await storage.execute(INSERT_USER, "u1", "a@example.com", "h", 1, 1)


async def test_reads_are_not_blocked_by_an_open_transaction(gateway: Storage) -> None:
    async with gateway.transaction() as tx:
        await tx.execute(INSERT_USER, "u1", "a@example.com", "h", 1, 1)
        with trio.fail_after(1):
            assert await gateway.fetchval("SELECT count(*) FROM users") == 0
    assert await gateway.fetchval("SELECT count(*) FROM users") == 1
