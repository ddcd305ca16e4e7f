"""The storage port: what the actors see of a database.

One SQL text serves both adapters. Write statements in PostgreSQL style with numbered
placeholders (``$1, $2``); the SQLite adapter rewrites them. Stay inside what both
dialects understand alike:

- times as BIGINT epoch milliseconds, booleans as SMALLINT 0/1, floats as DOUBLE
  PRECISION, lists as TEXT holding JSON (encode and decode in the caller);
- ``INSERT ... ON CONFLICT (...) DO UPDATE SET x = excluded.x`` and ``RETURNING``;
- row values for keyset paging: ``WHERE (title, id) > ($1, $2)``;
- no ``::`` casts (write ``CAST($1 AS BIGINT)``), no arrays (expand lists with
  `placeholders`), no ``ILIKE``; cast aggregates that PostgreSQL widens to NUMERIC
  (``CAST(sum(x) AS BIGINT)``);
- pass parameters of the column's type: PostgreSQL refuses a str for a BIGINT, and a
  bare ``SELECT $1`` is TEXT there;
- sort columns are NOT NULL (the dialects order NULLs differently).

Rows come back as plain dicts in both adapters.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol


class Queries(Protocol):
    """Statements, run on a storage (each its own transaction) or inside a Tx."""

    async def fetch(self, sql: str, *args: Any) -> list[dict[str, Any]]:
        """All rows of a query."""

    async def fetchrow(self, sql: str, *args: Any) -> dict[str, Any] | None:
        """The first row, or None."""

    async def fetchval(self, sql: str, *args: Any) -> Any:
        """The first column of the first row, or None when there is no row."""

    async def execute(self, sql: str, *args: Any) -> int:
        """Run one statement; the number of rows it inserted, updated or deleted."""

    async def executemany(self, sql: str, args_seq: Sequence[Sequence[Any]]) -> None:
        """Run one statement for each parameter tuple, atomically."""


class Tx(Queries, Protocol):
    """An open transaction. Statements run in order on one connection."""

    async def execute_script(self, sql: str) -> None:
        """Run several statements without parameters (for migrations)."""


class Storage(Queries, Protocol):
    """A database behind the port. Every call runs under the storage's timeout and
    raises only `StorageError` subclasses (and trio.Cancelled)."""

    dialect: str
    """ "postgres" or "sqlite". Only the migration runner may look at it."""

    @property
    def healthy(self) -> bool:
        """False since a call found the database unreachable, until one reaches it
        again (for /metrics; each change is logged once by "actors.storage")."""

    @property
    def outages(self) -> int:
        """How many times the database became unreachable since opening."""

    def transaction(
        self, *, timeout: float | None = None
    ) -> AbstractAsyncContextManager[Tx]:
        """An explicit transaction: commit on clean exit, rollback on exception or
        cancellation. ``timeout`` overrides the storage's timeout for each statement
        in it (and for waiting to begin). Transactions do not nest."""

    async def close(self) -> None:
        """Release connections. Later calls raise `StorageUnavailable`."""


Row = Mapping[str, Any]
