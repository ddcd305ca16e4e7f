"""The PostgreSQL adapter: asyncpg, run inside trio through trio-asyncio.

This is the only module that knows asyncpg speaks asyncio. Each port call is one
crossing into the asyncio loop (an asyncio-side function below does the acquire, the
statement and the release together), because each crossing costs about 0.1-0.2 ms.
The caller must run inside ``trio_asyncio.open_loop()``; the loop is captured when the
storage opens, so any trio task may use the storage afterwards.

A trio deadline bounds every call. On timeout the caller gets `StorageTimeout` at
once; asyncpg cancels the query server-side in the background and the connection
goes back to the pool usable (`aio.AsyncioBridge` explains why not to wait for
that). asyncpg pools reconnect lazily: after the server comes back, the next acquire opens a
fresh connection, so no restart is needed.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import trio

from .errors import (
    IntegrityViolation,
    StorageError,
    StorageTimeout,
    StorageUnavailable,
    UniqueViolation,
)
from .aio import AsyncioBridge
from .health import Health
from .sql import affected_rows

# ---------------------------------------------------------------------------
# asyncio side. Each function runs entirely in the asyncio loop: one crossing.


def _dict(record: asyncpg.Record | None) -> dict[str, Any] | None:
    return None if record is None else dict(record.items())


async def _pool_fetch(pool: asyncpg.Pool, sql: str, args: Sequence[Any]) -> list[dict]:
    async with pool.acquire() as con:
        return [dict(r.items()) for r in await con.fetch(sql, *args)]


async def _pool_fetchrow(pool: asyncpg.Pool, sql: str, args: Sequence[Any]) -> dict | None:
    async with pool.acquire() as con:
        return _dict(await con.fetchrow(sql, *args))


async def _pool_fetchval(pool: asyncpg.Pool, sql: str, args: Sequence[Any]) -> Any:
    async with pool.acquire() as con:
        return await con.fetchval(sql, *args)


async def _pool_execute(pool: asyncpg.Pool, sql: str, args: Sequence[Any]) -> int:
    async with pool.acquire() as con:
        return affected_rows(await con.execute(sql, *args))


async def _pool_executemany(
    pool: asyncpg.Pool, sql: str, args_seq: Sequence[Sequence[Any]]
) -> None:
    async with pool.acquire() as con:
        await con.executemany(sql, args_seq)  # atomic: asyncpg wraps it in a transaction


async def _con_fetch(con: asyncpg.Connection, sql: str, args: Sequence[Any]) -> list[dict]:
    return [dict(r.items()) for r in await con.fetch(sql, *args)]


async def _con_fetchrow(con: asyncpg.Connection, sql: str, args: Sequence[Any]) -> dict | None:
    return _dict(await con.fetchrow(sql, *args))


async def _con_fetchval(con: asyncpg.Connection, sql: str, args: Sequence[Any]) -> Any:
    return await con.fetchval(sql, *args)


async def _con_execute(con: asyncpg.Connection, sql: str, args: Sequence[Any]) -> int:
    return affected_rows(await con.execute(sql, *args))


async def _con_executemany(
    con: asyncpg.Connection, sql: str, args_seq: Sequence[Sequence[Any]]
) -> None:
    await con.executemany(sql, args_seq)


async def _con_script(con: asyncpg.Connection, sql: str) -> None:
    await con.execute(sql)  # no arguments: simple protocol, several statements allowed


async def _tx_begin(pool: asyncpg.Pool) -> asyncpg.Connection:
    """A pooled connection with a transaction begun on it. Releases the connection
    itself if anything, cancellation included, interrupts it."""
    con = await pool.acquire()
    try:
        await con.execute("BEGIN")
    except BaseException:
        await pool.release(con)
        raise
    return con


async def _tx_end(pool: asyncpg.Pool, con: asyncpg.Connection, commit: bool) -> None:
    try:
        if commit:
            await con.execute("COMMIT")
        elif not con.is_closed():
            await con.execute("ROLLBACK")
    finally:
        await pool.release(con)  # resets the connection, rolling back if still open


async def _discard(con: asyncpg.Connection) -> None:
    """Close a connection whose clean-up did not finish in time: the server aborts
    its transaction, and the task still cleaning up releases it to the pool."""
    con.terminate()


async def _create_pool(url: str, pool_size: int, timeout: float) -> asyncpg.Pool:
    return await asyncpg.create_pool(
        url,
        # One connection up front, so a wrong URL or a stopped server shows at once;
        # no floor to maintain, so an outage is not retried (and logged) in the
        # background: connections are opened again on demand.
        init_size=1,
        min_size=0,
        max_size=pool_size,
        timeout=timeout,  # connection establishment
    )


async def _close_pool(pool: asyncpg.Pool) -> None:
    await pool.close()


async def _terminate_pool(pool: asyncpg.Pool) -> None:
    pool.terminate()


# ---------------------------------------------------------------------------
# trio side.


def map_pg_error(exc: BaseException) -> StorageError:
    """The storage error for an asyncpg (or socket) exception."""
    message = str(exc) or type(exc).__name__
    if isinstance(exc, StorageError):
        return exc
    if isinstance(exc, asyncpg.UniqueViolationError):
        return UniqueViolation(message)
    if isinstance(exc, asyncpg.IntegrityConstraintViolationError):
        return IntegrityViolation(message)
    if isinstance(exc, (asyncpg.QueryCanceledError, asyncpg.LockNotAvailableError)):
        return StorageTimeout(message)
    if isinstance(exc, TimeoutError):  # before OSError, of which it is a subclass
        return StorageTimeout(f"timed out: {message}")
    if isinstance(
        exc,
        (
            OSError,
            asyncpg.PostgresConnectionError,
            asyncpg.CannotConnectNowError,
            asyncpg.AdminShutdownError,
            asyncpg.CrashShutdownError,
            asyncpg.TooManyConnectionsError,
        ),
    ):
        return StorageUnavailable(message)
    if isinstance(exc, asyncpg.InterfaceError) and (
        "closed" in message or "closing" in message
    ):
        return StorageUnavailable(message)
    return StorageError(message)


async def _bounded(
    bridge: AsyncioBridge, health: Health, timeout: float, fn: Any, *args: Any
) -> Any:
    """One crossing under a timeout, its errors mapped, reachability noted."""
    try:
        with trio.fail_after(timeout):
            result = await bridge.call(fn, *args)
    except trio.TooSlowError:
        raise StorageTimeout(f"timed out after {timeout}s") from None
    except asyncio.CancelledError as exc:  # the asyncio loop is shutting down
        raise StorageUnavailable("the asyncio loop is closing") from exc
    except Exception as exc:
        error = map_pg_error(exc)
        if isinstance(error, StorageUnavailable):
            health.down(error)
        raise error from exc
    health.up()
    return result


class PostgresTx:
    """A transaction on one pooled connection."""

    def __init__(
        self, bridge: AsyncioBridge, health: Health, con: asyncpg.Connection, timeout: float
    ) -> None:
        self._bridge = bridge
        self._health = health
        self._con = con
        self._timeout = timeout
        self._open = True

    async def _call(self, fn: Any, *args: Any) -> Any:
        if not self._open:
            raise StorageError("transaction is finished")
        return await _bounded(self._bridge, self._health, self._timeout, fn, self._con, *args)

    async def fetch(self, sql: str, *args: Any) -> list[dict[str, Any]]:
        return await self._call(_con_fetch, sql, args)

    async def fetchrow(self, sql: str, *args: Any) -> dict[str, Any] | None:
        return await self._call(_con_fetchrow, sql, args)

    async def fetchval(self, sql: str, *args: Any) -> Any:
        return await self._call(_con_fetchval, sql, args)

    async def execute(self, sql: str, *args: Any) -> int:
        return await self._call(_con_execute, sql, args)

    async def executemany(self, sql: str, args_seq: Sequence[Sequence[Any]]) -> None:
        await self._call(_con_executemany, sql, args_seq)

    async def execute_script(self, sql: str) -> None:
        await self._call(_con_script, sql)


class PostgresStorage:
    """The `Storage` port over an asyncpg pool. Build it with `open_postgres`."""

    dialect = "postgres"

    def __init__(
        self, bridge: AsyncioBridge, pool: asyncpg.Pool, timeout: float, health: Health
    ) -> None:
        self._bridge = bridge
        self._health = health
        self._pool = pool
        self._timeout = timeout
        self._closed = False

    @property
    def healthy(self) -> bool:
        return self._health.healthy

    @property
    def outages(self) -> int:
        return self._health.outages

    async def _call(self, fn: Any, *args: Any) -> Any:
        if self._closed:
            raise StorageUnavailable("storage is closed")
        return await _bounded(self._bridge, self._health, self._timeout, fn, self._pool, *args)

    async def fetch(self, sql: str, *args: Any) -> list[dict[str, Any]]:
        return await self._call(_pool_fetch, sql, args)

    async def fetchrow(self, sql: str, *args: Any) -> dict[str, Any] | None:
        return await self._call(_pool_fetchrow, sql, args)

    async def fetchval(self, sql: str, *args: Any) -> Any:
        return await self._call(_pool_fetchval, sql, args)

    async def execute(self, sql: str, *args: Any) -> int:
        return await self._call(_pool_execute, sql, args)

    async def executemany(self, sql: str, args_seq: Sequence[Sequence[Any]]) -> None:
        await self._call(_pool_executemany, sql, args_seq)

    @asynccontextmanager
    async def transaction(self, *, timeout: float | None = None) -> AsyncIterator[PostgresTx]:
        if self._closed:
            raise StorageUnavailable("storage is closed")
        timeout = self._timeout if timeout is None else timeout
        con = await _bounded(self._bridge, self._health, timeout, _tx_begin, self._pool)
        tx = PostgresTx(self._bridge, self._health, con, timeout)
        try:
            yield tx
        except BaseException:
            tx._open = False
            await self._roll_back(con)
            raise
        tx._open = False
        # If this times out, _tx_end still releases the connection in its finally.
        await _bounded(self._bridge, self._health, timeout, _tx_end, self._pool, con, True)

    async def _roll_back(self, con: asyncpg.Connection) -> None:
        """Roll back and release ``con``, shielded from cancellation but bounded by
        the storage's timeout; past it, or on error, the connection is closed.
        Errors are swallowed: the exception being handled is the one to raise."""
        with trio.CancelScope(shield=True):
            with trio.move_on_after(self._timeout):
                try:
                    await self._bridge.call(_tx_end, self._pool, con, False)
                    return
                except Exception:
                    pass
            try:
                await self._bridge.call(_discard, con)
            except Exception:
                pass

    async def close(self) -> None:
        """Close the pool gracefully within the timeout, then forcibly."""
        if self._closed:
            return
        self._closed = True
        with trio.CancelScope(shield=True):
            with trio.move_on_after(self._timeout):
                try:
                    await self._bridge.call(_close_pool, self._pool)
                    return
                except Exception:
                    pass
            await self._bridge.call(_terminate_pool, self._pool)


async def open_postgres(url: str, *, pool_size: int = 10, timeout: float = 5.0) -> PostgresStorage:
    """Open a pool on ``url`` (one connection at least must succeed, so a wrong URL
    or a stopped server is reported at once as `StorageUnavailable`)."""
    bridge = AsyncioBridge.current("the PostgreSQL adapter")
    health = Health("PostgreSQL")
    pool = await _bounded(bridge, health, timeout, _create_pool, url, pool_size, timeout)
    return PostgresStorage(bridge, pool, timeout, health)
