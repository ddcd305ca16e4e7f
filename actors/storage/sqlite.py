"""The SQLite adapter: the embedded default, one node.

sqlite3 blocks, so every statement runs in a worker thread. One writer connection,
serialised by a lock that a transaction holds from BEGIN to COMMIT, and a few
reader connections (WAL lets them read while the writer writes). Writers begin with
``BEGIN IMMEDIATE`` and wait up to the timeout for a lock held by another process
(a CLI ``create-user`` beside a running gateway), so the file can be shared.

A statement's timeout is enforced inside its thread by a progress handler that
aborts it past the deadline; waiting for the writer or a reader is bounded too.

``executemany`` of a single-row INSERT runs as one statement over a JSON array of the
rows (`sqlite_insert_from_json`), so a batch takes the GIL twice, not twice per row:
with the event loop busy, per-row hand-offs made a 10,000-row flush take seconds.
"""

from __future__ import annotations

import math
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import orjson
import trio

from .errors import (
    IntegrityViolation,
    StorageError,
    StorageTimeout,
    StorageUnavailable,
    UniqueViolation,
)
from .health import Health
from .sql import is_read_only, split_sqlite_script, sqlite_insert_from_json, to_sqlite

T = TypeVar("T")

MAX_READERS = 4
# VM instructions between progress-handler calls, about 1 ms of work. The handler is
# Python, so each call retakes the GIL, which a busy event loop thread holds: every
# 1,000 steps made a 10,000-row insert take seconds and cost the loop a GIL hand-off
# per call. A deadline is still noticed within a few ms.
_PROGRESS_STEPS = 100_000


def sqlite_path(url: str) -> Path:
    """The file of a ``sqlite:///path`` URL (``sqlite:////abs/path`` is absolute)."""
    prefix = "sqlite:///"
    if not url.startswith(prefix) or len(url) == len(prefix):
        raise ValueError(f"not a sqlite URL with a file path: {url!r}")
    path = url[len(prefix) :]
    if path == ":memory:" or path.startswith("file:"):
        raise ValueError("the SQLite adapter needs a file (several connections share it)")
    return Path(path)


class _Connection:
    """A sqlite3 connection used by one thread at a time, with a per-call deadline
    that its progress handler enforces."""

    def __init__(self, path: Path, *, timeout: float, read_only: bool) -> None:
        self.deadline = math.inf
        self.busy_timeout = timeout
        self.raw = sqlite3.connect(
            path,
            timeout=timeout,
            isolation_level=None,  # autocommit; transactions are explicit
            check_same_thread=False,
            cached_statements=512,
        )
        self.raw.set_progress_handler(self._past_deadline, _PROGRESS_STEPS)
        if read_only:
            self.raw.execute("PRAGMA query_only = ON")
        else:
            self.raw.execute("PRAGMA journal_mode = WAL")
            self.raw.execute("PRAGMA synchronous = NORMAL")
            self.raw.execute("PRAGMA foreign_keys = ON")

    def _past_deadline(self) -> int:
        return 1 if time.monotonic() > self.deadline else 0

    def run(self, work: Callable[[sqlite3.Connection], T], timeout: float) -> T:
        """Run ``work`` in this (worker) thread under the deadline."""
        if timeout != self.busy_timeout:
            self.raw.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
            self.busy_timeout = timeout
        self.deadline = time.monotonic() + timeout
        try:
            return work(self.raw)
        finally:
            self.deadline = math.inf

    def close(self) -> None:
        self.raw.close()


# The work functions below run in worker threads.


def _fetch(sql: str, args: Sequence[Any]) -> Callable[[sqlite3.Connection], list[dict]]:
    def work(conn: sqlite3.Connection) -> list[dict[str, Any]]:
        cur = conn.execute(sql, args)
        try:
            rows = cur.fetchall()
            if not rows:
                return []
            names = [d[0] for d in cur.description]
            return [dict(zip(names, row)) for row in rows]
        finally:
            cur.close()

    return work


def _fetchrow(sql: str, args: Sequence[Any]) -> Callable[[sqlite3.Connection], dict | None]:
    def work(conn: sqlite3.Connection) -> dict[str, Any] | None:
        cur = conn.execute(sql, args)
        try:
            row = cur.fetchone()
            if row is None:
                return None
            return dict(zip([d[0] for d in cur.description], row))
        finally:
            cur.close()  # an unfinished SELECT would keep its read snapshot open

    return work


def _fetchval(sql: str, args: Sequence[Any]) -> Callable[[sqlite3.Connection], Any]:
    def work(conn: sqlite3.Connection) -> Any:
        cur = conn.execute(sql, args)
        try:
            row = cur.fetchone()
            return None if row is None else row[0]
        finally:
            cur.close()

    return work


def _execute(sql: str, args: Sequence[Any]) -> Callable[[sqlite3.Connection], int]:
    def work(conn: sqlite3.Connection) -> int:
        cur = conn.execute(sql, args)
        try:
            return max(cur.rowcount, 0)
        finally:
            cur.close()

    return work


def _executemany(
    sql: str, args_seq: Sequence[Sequence[Any]]
) -> Callable[[sqlite3.Connection], None]:
    """``sql`` (with ``$n`` placeholders) for each row; an INSERT of several rows as
    one statement over a JSON array of what varies between them (see
    `sqlite_insert_from_json`)."""
    eligible = len(args_seq) > 1 and sqlite_insert_from_json(sql) is not None

    def work(conn: sqlite3.Connection) -> None:
        if eligible and len(set(map(len, args_seq))) == 1:
            columns = list(zip(*args_seq))
            # Rows all alike still need an array, one value per row: the first column's.
            varying = frozenset(n for n, values in enumerate(columns, 1) if not _one_value(values)) or frozenset((1,))
            rewritten = sqlite_insert_from_json(sql, varying)
            assert rewritten is not None  # the statement is eligible
            insert, bound = rewritten
            in_array = [columns[n - 1] for n in sorted(varying)]
            array: Any = in_array[0] if len(in_array) == 1 else list(zip(*in_array))
            try:
                rows = orjson.dumps(array).decode()
            except orjson.JSONEncodeError:
                pass  # bytes or an integer past 64 bits: bound one row at a time below
            else:
                # SQLite's JSON functions cut a string at an escaped NUL: a batch
                # holding one (or a literal backslash-u0000) is bound row by row.
                if "\\u0000" not in rows:
                    conn.execute(insert, (rows, *(columns[n - 1][0] for n in bound))).close()
                    return
        conn.executemany(to_sqlite(sql), args_seq).close()

    return work


def _one_value(values: Sequence[Any]) -> bool:
    """Every value is the first one, of the same type (1, 1.0 and True are equal in
    Python, not in a TEXT column), and not a float (-0.0 == 0.0)."""
    first = values[0]
    return type(first) is not float and values.count(first) == len(values) and len(set(map(type, values))) == 1


def _script(statements: list[str]) -> Callable[[sqlite3.Connection], None]:
    def work(conn: sqlite3.Connection) -> None:
        for statement in statements:
            conn.execute(statement).close()

    return work


def _atomic(work: Callable[[sqlite3.Connection], T]) -> Callable[[sqlite3.Connection], T]:
    """``work`` in its own IMMEDIATE transaction (all in the same thread call)."""

    def atomic(conn: sqlite3.Connection) -> T:
        conn.execute("BEGIN IMMEDIATE")
        try:
            result = work(conn)
            conn.execute("COMMIT")
        except BaseException:
            _rollback(conn)
            raise
        return result

    return atomic


def _begin(conn: sqlite3.Connection) -> None:
    conn.execute("BEGIN IMMEDIATE")


def _commit(conn: sqlite3.Connection) -> None:
    conn.execute("COMMIT")


def _rollback(conn: sqlite3.Connection) -> None:
    if conn.in_transaction:
        conn.execute("ROLLBACK")


def map_sqlite_error(exc: BaseException) -> StorageError:
    """The storage error for a sqlite3 exception (or an OSError opening the file)."""
    message = str(exc)
    lowered = message.lower()
    if isinstance(exc, StorageError):
        return exc
    if isinstance(exc, sqlite3.IntegrityError):
        if "unique constraint" in lowered or "primary key" in lowered:
            return UniqueViolation(message)
        return IntegrityViolation(message)
    if isinstance(exc, sqlite3.OperationalError):
        if "interrupted" in lowered:
            return StorageTimeout("statement cancelled: timeout")
        if "locked" in lowered or "busy" in lowered:
            return StorageTimeout(f"lock wait timed out: {message}")
        if "unable to open" in lowered or "disk i/o" in lowered:
            return StorageUnavailable(message)
        return StorageError(message)
    if isinstance(exc, sqlite3.ProgrammingError) and "closed" in lowered:
        return StorageUnavailable("storage is closed")
    if isinstance(exc, OSError):
        return StorageUnavailable(message)
    return StorageError(message)


class _SqliteQueries:
    """The statement methods, over a `_run(read_only, work)` that subclasses define."""

    async def _run(self, read_only: bool, work: Callable[[sqlite3.Connection], T]) -> T:
        raise NotImplementedError

    async def fetch(self, sql: str, *args: Any) -> list[dict[str, Any]]:
        return await self._run(is_read_only(sql), _fetch(to_sqlite(sql), args))

    async def fetchrow(self, sql: str, *args: Any) -> dict[str, Any] | None:
        return await self._run(is_read_only(sql), _fetchrow(to_sqlite(sql), args))

    async def fetchval(self, sql: str, *args: Any) -> Any:
        return await self._run(is_read_only(sql), _fetchval(to_sqlite(sql), args))

    async def execute(self, sql: str, *args: Any) -> int:
        return await self._run(False, _execute(to_sqlite(sql), args))


class SqliteTx(_SqliteQueries):
    """A transaction on the writer connection; its storage holds the writer lock."""

    def __init__(self, storage: SqliteStorage, timeout: float) -> None:
        self._storage = storage
        self._timeout = timeout
        self._open = True

    async def _run(self, read_only: bool, work: Callable[[sqlite3.Connection], T]) -> T:
        if not self._open:
            raise StorageError("transaction is finished")
        return await self._storage._in_thread(self._storage._writer, work, self._timeout)

    async def executemany(self, sql: str, args_seq: Sequence[Sequence[Any]]) -> None:
        await self._run(False, _executemany(sql, args_seq))

    async def execute_script(self, sql: str) -> None:
        await self._run(False, _script(split_sqlite_script(sql)))


class SqliteStorage(_SqliteQueries):
    """The `Storage` port over one SQLite file. Build it with `open_sqlite`."""

    dialect = "sqlite"

    def __init__(self, writer: _Connection, readers: list[_Connection], timeout: float):
        self._writer = writer
        # A semaphore, not a trio.Lock: a task that calls the storage while holding
        # a transaction must wait (and time out) as on PostgreSQL, not crash.
        self._write_lock = trio.Semaphore(1)
        self._readers = readers
        self._idle_readers = list(readers)
        self._reader_slots = trio.Semaphore(len(readers))
        self._timeout = timeout
        self._closed = False
        self._health = Health("SQLite database")

    @property
    def healthy(self) -> bool:
        return self._health.healthy

    @property
    def outages(self) -> int:
        return self._health.outages

    async def _in_thread(
        self, conn: _Connection, work: Callable[[sqlite3.Connection], T], timeout: float
    ) -> T:
        try:
            result = await trio.to_thread.run_sync(conn.run, work, timeout)
        except (sqlite3.Error, OSError) as exc:
            error = map_sqlite_error(exc)
            if isinstance(error, StorageUnavailable) and not self._closed:
                self._health.down(error)
            raise error from exc
        self._health.up()
        return result

    async def _run(self, read_only: bool, work: Callable[[sqlite3.Connection], T]) -> T:
        self._check_open()
        timeout = self._timeout
        if not read_only:
            await self._acquire(self._write_lock, timeout, "the writer connection")
            try:
                return await self._in_thread(self._writer, work, timeout)
            finally:
                self._write_lock.release()
        await self._acquire(self._reader_slots, timeout, "a reader connection")
        conn = self._idle_readers.pop()
        try:
            return await self._in_thread(conn, work, timeout)
        finally:
            self._idle_readers.append(conn)
            self._reader_slots.release()

    async def _acquire(self, lock: trio.Semaphore, timeout: float, what: str) -> None:
        with trio.move_on_after(timeout):
            await lock.acquire()
            return
        raise StorageTimeout(f"timed out after {timeout}s waiting for {what}")

    def _check_open(self) -> None:
        if self._closed:
            raise StorageUnavailable("storage is closed")

    async def executemany(self, sql: str, args_seq: Sequence[Sequence[Any]]) -> None:
        await self._run(False, _atomic(_executemany(sql, args_seq)))

    @asynccontextmanager
    async def transaction(self, *, timeout: float | None = None) -> AsyncIterator[SqliteTx]:
        self._check_open()
        timeout = self._timeout if timeout is None else timeout
        await self._acquire(self._write_lock, timeout, "the writer connection")
        try:
            await self._in_thread(self._writer, _begin, timeout)
            tx = SqliteTx(self, timeout)
            try:
                yield tx
            except BaseException:
                tx._open = False
                with trio.CancelScope(shield=True):
                    try:
                        await self._in_thread(self._writer, _rollback, timeout)
                    except StorageError:
                        pass  # the body's exception is the one worth raising
                raise
            tx._open = False
            try:
                await self._in_thread(self._writer, _commit, timeout)
            except BaseException:
                with trio.CancelScope(shield=True):
                    try:
                        await self._in_thread(self._writer, _rollback, timeout)
                    except StorageError:
                        pass
                raise
        finally:
            self._write_lock.release()

    async def close(self) -> None:
        """Wait (up to the timeout) for running statements, then close the files."""
        if self._closed:
            return
        self._closed = True
        with trio.move_on_after(self._timeout):
            await self._write_lock.acquire()
            for _ in self._readers:
                await self._reader_slots.acquire()
        for conn in [self._writer, *self._readers]:
            try:
                await trio.to_thread.run_sync(conn.close)
            except sqlite3.Error:
                pass


async def open_sqlite(url: str, *, pool_size: int = 10, timeout: float = 5.0) -> SqliteStorage:
    """Open (creating it and its folder if needed) the SQLite file of ``url``."""
    path = sqlite_path(url)

    def connect() -> tuple[_Connection, list[_Connection]]:
        path.parent.mkdir(parents=True, exist_ok=True)
        writer = _Connection(path, timeout=timeout, read_only=False)
        try:
            readers = [
                _Connection(path, timeout=timeout, read_only=True)
                for _ in range(max(1, min(pool_size, MAX_READERS)))
            ]
        except BaseException:
            writer.close()
            raise
        return writer, readers

    try:
        writer, readers = await trio.to_thread.run_sync(connect)
    except (sqlite3.Error, OSError) as exc:
        raise map_sqlite_error(exc) from exc
    return SqliteStorage(writer, readers, timeout)
