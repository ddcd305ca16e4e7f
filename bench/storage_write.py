"""Batched write of 10,000 content rows: the storage port against asyncpg alone.

In one run, on one fresh database: the same upsert of N content rows, in one
transaction with executemany, done (a) by asyncpg on plain asyncio (the baseline)
and (b) through the storage port in trio via trio-asyncio. Rounds alternate the two
so that machine noise hits both alike. Prints medians and the ratio
baseline / port (1.0 = the port costs nothing; target at least 0.7). The SQLite
adapter is timed too, for information.

    .venv/bin/python bench/storage_write.py [--rows 10000] [--rounds 3] [--reps 5]
        [--admin-url postgresql://postgres@127.0.0.1:5432/postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import asyncpg  # noqa: E402
import trio  # noqa: E402
import trio_asyncio  # noqa: E402

from actors.catalog.store import UPSERT_SQL  # noqa: E402
from actors.storage import connect_storage, migrate  # noqa: E402

UPSERT = UPSERT_SQL  # the catalog's own statement, run by both sides
CLEAR = "DELETE FROM content"

GENRES = ['["Drama"]', '["Comedy", "Romance"]', '["Action", "Thriller"]', '["Documentary"]']
PLATFORMS = ['["web"]', '["web", "tv"]', '["ios", "android"]']


def make_rows(n: int) -> list[tuple]:
    return [
        (
            f"c{i:06d}",
            f"Title number {i}",
            ("movie", "series", "episode")[i % 3],
            1950 + i % 75,
            GENRES[i % len(GENRES)],
            PLATFORMS[i % len(PLATFORMS)],
            (i % 101) / 10,
            float(i % 997),
            (60 + i % 120) * 60_000,
            1_700_000_000_000 + i,
        )
        for i in range(n)
    ]


def with_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + database, parts.query, ""))


async def admin(url: str, statement: str) -> None:
    con = await asyncpg.connect(url)
    try:
        await con.execute(statement)
    finally:
        await con.close()


async def baseline(url: str, rows: list[tuple], reps: int) -> list[float]:
    """asyncpg on plain asyncio: acquire, transaction, executemany, commit."""
    pool = await asyncpg.create_pool(url, min_size=2, max_size=10)
    times = []
    try:
        for _ in range(reps):
            await pool.execute(CLEAR)
            started = time.perf_counter()
            async with pool.acquire() as con, con.transaction():
                await con.executemany(UPSERT, rows)
            times.append(time.perf_counter() - started)
    finally:
        await pool.close()
    return times


async def through_port(url: str, rows: list[tuple], reps: int) -> list[float]:
    """The same through the storage port: transaction() + executemany."""
    times = []
    async with trio_asyncio.open_loop():
        async with connect_storage(url, pool_size=10, timeout=60) as storage:
            for _ in range(reps):
                await storage.execute(CLEAR)
                started = time.perf_counter()
                async with storage.transaction() as tx:
                    await tx.executemany(UPSERT, rows)
                times.append(time.perf_counter() - started)
    return times


async def prepare(url: str) -> None:
    async with trio_asyncio.open_loop():
        async with connect_storage(url) as storage:
            await migrate(storage)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument(
        "--admin-url", default="postgresql://postgres@127.0.0.1:5432/postgres",
        help="a PostgreSQL server where a scratch database may be created",
    )
    args = parser.parse_args()
    rows = make_rows(args.rows)

    name = f"mg_bench_{secrets.token_hex(4)}"
    asyncio.run(admin(args.admin_url, f'CREATE DATABASE "{name}"'))
    url = with_database(args.admin_url, name)
    base: list[float] = []
    port: list[float] = []
    lite: list[float] = []
    try:
        trio.run(prepare, url)
        asyncio.run(baseline(url, rows, 1))  # warm up: server caches, first plans
        trio.run(through_port, url, rows, 1)
        for _ in range(args.rounds):
            base += asyncio.run(baseline(url, rows, args.reps))
            port += trio.run(through_port, url, rows, args.reps)
    finally:
        asyncio.run(admin(args.admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    with tempfile.TemporaryDirectory() as folder:
        sqlite_url = f"sqlite:///{folder}/bench.db"
        trio.run(prepare, sqlite_url)
        lite = trio.run(through_port, sqlite_url, rows, args.rounds * args.reps)

    def line(label: str, times: list[float]) -> str:
        median = statistics.median(times)
        return (
            f"{label:32s} median {median * 1000:7.1f} ms  "
            f"min {min(times) * 1000:7.1f} ms  {args.rows / median:9.0f} rows/s  (n={len(times)})"
        )

    print(f"batched upsert of {args.rows} content rows, one transaction, executemany")
    print(line("asyncpg alone, plain asyncio", base))
    print(line("storage port, PostgreSQL", port))
    print(line("storage port, SQLite", lite))
    ratio = statistics.median(base) / statistics.median(port)
    print(f"ratio baseline/port (PostgreSQL): {ratio:.2f}  (target >= 0.70)")


if __name__ == "__main__":
    main()
