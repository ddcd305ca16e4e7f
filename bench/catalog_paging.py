"""Catalog paging on 100,000 rows, both adapters: page 1 vs page 1,000, offset vs cursor.

For each adapter: fill a fresh database with the demo catalog, then time content
listings through the catalog actor (what content.list runs): offset page 1 and page
1,000, and cursor page 1 and page 1,000 (the cursor of page 999 is taken from a walk).
Prints medians of repeated runs and the ratio page-1000 / page-1 (target for the
cursor: at most 1.5).

    .venv/bin/python bench/catalog_paging.py [--titles 100000] [--repeat 30] [--postgres URL]
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

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import trio  # noqa: E402
import trio_asyncio  # noqa: E402

from actors.catalog import store  # noqa: E402
from actors.catalog.actor import CatalogActor  # noqa: E402
from actors.catalog.demo import generate  # noqa: E402
from actors.catalog.messages import ListContent  # noqa: E402
from actors.kv import connect_kv  # noqa: E402
from actors.paging import KeysetPage, OffsetPage  # noqa: E402
from actors.storage import connect_storage, migrate  # noqa: E402
from runtime import spawn  # noqa: E402

PAGE = 20


async def timed(ref, page, sort: str, repeat: int) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        await ref.ask(ListContent(page, sort))
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000


async def bench(url: str, titles: int, repeat: int) -> None:
    async with trio_asyncio.open_loop(), connect_storage(url, pool_size=4, timeout=60) as storage:
        await migrate(storage)
        if await store.count(storage) != titles:
            await storage.execute("DELETE FROM content")
            items = list(generate(titles, 1))
            async with storage.transaction() as tx:
                for i in range(0, len(items), 1000):
                    await store.upsert(tx, items[i:i + 1000], 0)
        async with connect_kv(None) as kv, trio.open_nursery() as nursery:
            ref = await spawn(nursery, lambda: CatalogActor(storage, kv, "bench"), "catalog")
            for sort in ("popularity", "title"):
                after = None
                for _ in range(999):
                    after = (await ref.ask(ListContent(KeysetPage(PAGE, after), sort))).next_key
                o1 = await timed(ref, OffsetPage(1, PAGE), sort, repeat)
                o1000 = await timed(ref, OffsetPage(1000, PAGE), sort, repeat)
                c1 = await timed(ref, KeysetPage(PAGE, None), sort, repeat)
                c1000 = await timed(ref, KeysetPage(PAGE, after), sort, repeat)
                print(f"  sort={sort:<10} offset p1 {o1:6.2f} ms  p1000 {o1000:6.2f} ms (x{o1000 / o1:.2f})   "
                      f"cursor p1 {c1:6.2f} ms  p1000 {c1000:6.2f} ms (x{c1000 / c1:.2f})", flush=True)
            nursery.cancel_scope.cancel()


async def pg_database(admin_url: str, create: bool, name: str) -> None:
    import asyncpg

    con = await asyncpg.connect(admin_url)
    try:
        await con.execute(f'CREATE DATABASE "{name}"' if create else f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await con.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--titles", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=30)
    ap.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        print(f"sqlite, {args.titles} titles, page size {PAGE}, medians of {args.repeat}")
        trio.run(bench, f"sqlite:///{tmp}/bench.db", args.titles, args.repeat)
    name = f"mg_bench_{secrets.token_hex(4)}"
    asyncio.run(pg_database(args.postgres, True, name))
    try:
        base = args.postgres.rsplit("/", 1)[0]
        print(f"postgres, {args.titles} titles, page size {PAGE}, medians of {args.repeat}")
        trio.run(bench, f"{base}/{name}", args.titles, args.repeat)
    finally:
        asyncio.run(pg_database(args.postgres, False, name))


if __name__ == "__main__":
    main()
