"""The PostgreSQL adapter: asyncpg, run inside trio through trio-asyncio.

This is the only module that knows asyncpg speaks asyncio. Each port call is one
crossing into the asyncio loop (an asyncio-side function below does the acquire, the
statement and the release together), because each crossing costs about 0.1-0.2 ms.
The caller must run inside ``trio_asyncio.open_loop()``; the loop is captured when the
storage opens, so any trio task may use the storage afterwards.

A trio cancel scope bounds every call; cancelling a running asyncpg query makes
asyncpg send a cancel request and the connection goes back to the pool usable.
asyncpg pools reconnect lazily: after the server comes back, the next acquire opens a
fresh connection, so no restart is needed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import trio
import trio_asyncio

from .errors import (
    IntegrityViolation,
    StorageError,
    StorageTimeout,
    StorageUnavailable,
    UniqueViolation,
)
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


async def _tx_begin(pool: asyncpg.Pool, holder: list[asyncpg.Connection]) -> None:
    """Acquire a connection into ``holder`` and begin a transaction on it. The
    holder lets the trio side release a connection whose hand-over was cancelled."""
    con = await pool.acquire()
    holder.append(con)
    await con.execute("BEGIN")


async def _tx_end(pool: asyncpg.Pool, con: asyncpg.Connection, commit: bool) -> None:
    try:
        if commit:
            await con.execute("COMMIT")
        elif not con.is_closed():
            await con.execute("ROLLBACK")
    finally:
        await pool.release(con)  # resets the connection, rolling back if still open


async def _release(pool: asyncpg.Pool, con: asyncpg.Connection) -> None:
    await pool.release(con)


async def _discard(pool: asyncpg.Pool, con: asyncpg.Connection) -> None:
    """Drop a connection whose clean-up did not finish in time: closing the socket
    makes the server abort its transaction; the pool reconnects later."""
    con.terminate()
    await pool.release(con)


async def _create_pool(url: str, pool_size: int, timeout: float) -> asyncpg.Pool:
    return await asyncpg.create_pool(
        url,
        min_size=min(2, pool_size),
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


class _Crossings:
    """The asyncio-side functions, wrapped once for a given loop."""

    def __init__(self, loop: Any) -> None:
        def wrap(fn: Any) -> Any:
            return trio_asyncio.aio_as_trio(fn, loop=loop)

        self.fetch = wrap(_pool_fetch)
        self.fetchrow = wrap(_pool_fetchrow)
        self.fetchval = wrap(_pool_fetchval)
        self.execute = wrap(_pool_execute)
        self.executemany = wrap(_pool_executemany)
        self.con_fetch = wrap(_con_fetch)
        self.con_fetchrow = wrap(_con_fetchrow)
        self.con_fetchval = wrap(_con_fetchval)
        self.con_execute = wrap(_con_execute)
        self.con_executemany = wrap(_con_executemany)
        self.con_script = wrap(_con_script)
        self.tx_begin = wrap(_tx_begin)
        self.tx_end = wrap(_tx_end)
        self.release = wrap(_release)
        self.discard = wrap(_discard)
        self.close_pool = wrap(_close_pool)
        self.terminate_pool = wrap(_terminate_pool)


async def _bounded(timeout: float, crossing: Any, *args: Any) -> Any:
    """One crossing under a timeout, its errors mapped."""
    try:
        with trio.fail_after(timeout):
            return await crossing(*args)
    except trio.TooSlowError:
        raise StorageTimeout(f"timed out after {timeout}s") from None
    except Exception as exc:
        raise map_pg_error(exc) from exc


class PostgresTx:
    """A transaction on one pooled connection."""

    def __init__(self, run: _Crossings, con: asyncpg.Connection, timeout: float) -> None:
        self._run = run
        self._con = con
        self._timeout = timeout
        self._open = True

    async def _call(self, crossing: Any, *args: Any) -> Any:
        if not self._open:
            raise StorageError("transaction is finished")
        return await _bounded(self._timeout, crossing, self._con, *args)

    async def fetch(self, sql: str, *args: Any) -> list[dict[str, Any]]:
        return await self._call(self._run.con_fetch, sql, args)

    async def fetchrow(self, sql: str, *args: Any) -> dict[str, Any] | None:
        return await self._call(self._run.con_fetchrow, sql, args)

    async def fetchval(self, sql: str, *args: Any) -> Any:
        return await self._call(self._run.con_fetchval, sql, args)

    async def execute(self, sql: str, *args: Any) -> int:
        return await self._call(self._run.con_execute, sql, args)

    async def executemany(self, sql: str, args_seq: Sequence[Sequence[Any]]) -> None:
        await self._call(self._run.con_executemany, sql, args_seq)

    async def execute_script(self, sql: str) -> None:
        await self._call(self._run.con_script, sql)


class PostgresStorage:
    """The `Storage` port over an asyncpg pool. Build it with `open_postgres`."""

    dialect = "postgres"

    def __init__(self, run: _Crossings, pool: asyncpg.Pool, timeout: float) -> None:
        self._run = run
        self._pool = pool
        self._timeout = timeout
        self._closed = False

    async def _call(self, crossing: Any, *args: Any) -> Any:
        if self._closed:
            raise StorageUnavailable("storage is closed")
        return await _bounded(self._timeout, crossing, self._pool, *args)

    async def fetch(self, sql: str, *args: Any) -> list[dict[str, Any]]:
        return await self._call(self._run.fetch, sql, args)

    async def fetchrow(self, sql: str, *args: Any) -> dict[str, Any] | None:
        return await self._call(self._run.fetchrow, sql, args)

    async def fetchval(self, sql: str, *args: Any) -> Any:
        return await self._call(self._run.fetchval, sql, args)

    async def execute(self, sql: str, *args: Any) -> int:
        return await self._call(self._run.execute, sql, args)

    async def executemany(self, sql: str, args_seq: Sequence[Sequence[Any]]) -> None:
        await self._call(self._run.executemany, sql, args_seq)

    @asynccontextmanager
    async def transaction(self, *, timeout: float | None = None) -> AsyncIterator[PostgresTx]:
        if self._closed:
            raise StorageUnavailable("storage is closed")
        timeout = self._timeout if timeout is None else timeout
        holder: list[asyncpg.Connection] = []
        try:
            await _bounded(timeout, self._run.tx_begin, self._pool, holder)
        except BaseException:
            if holder:
                await self._clean_up(self._run.release, holder[0])
            raise
        tx = PostgresTx(self._run, holder[0], timeout)
        try:
            yield tx
        except BaseException:
            tx._open = False
            await self._clean_up(self._run.tx_end, holder[0], False)
            raise
        tx._open = False
        # tx_end releases the connection in its finally, even when cancelled.
        await _bounded(timeout, self._run.tx_end, self._pool, holder[0], True)

    async def _clean_up(self, crossing: Any, con: asyncpg.Connection, *args: Any) -> None:
        """Roll back or release ``con``, shielded from cancellation but bounded by
        the storage's timeout; past it, or on error, the connection is discarded.
        Errors are swallowed: the exception being handled is the one to raise."""
        with trio.CancelScope(shield=True):
            with trio.move_on_after(self._timeout):
                try:
                    await crossing(self._pool, con, *args)
                    return
                except Exception:
                    pass
            with trio.move_on_after(self._timeout):
                try:
                    await self._run.discard(self._pool, con)
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
                    await self._run.close_pool(self._pool)
                    return
                except Exception:
                    pass
            await self._run.terminate_pool(self._pool)


async def open_postgres(url: str, *, pool_size: int = 10, timeout: float = 5.0) -> PostgresStorage:
    """Open a pool on ``url`` (one connection at least must succeed, so a wrong URL
    or a stopped server is reported at once as `StorageUnavailable`)."""
    loop = trio_asyncio.current_loop.get()
    if loop is None:
        raise RuntimeError(
            "the PostgreSQL adapter needs a running trio-asyncio loop: "
            "wrap the program in `async with trio_asyncio.open_loop():`"
        )
    run = _Crossings(loop)
    create = trio_asyncio.aio_as_trio(_create_pool, loop=loop)
    pool = await _bounded(timeout, create, url, pool_size, timeout)
    return PostgresStorage(run, pool, timeout)
