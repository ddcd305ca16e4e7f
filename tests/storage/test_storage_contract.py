"""The storage contract, run against both adapters (the `storage` fixture is
parametrised over SQLite and PostgreSQL, each on a fresh, migrated database)."""

from __future__ import annotations

import time

import orjson
import pytest
import trio

from actors.storage import (
    IntegrityViolation,
    Storage,
    StorageError,
    StorageTimeout,
    StorageUnavailable,
    UniqueViolation,
    connect_storage,
    migrate,
)

INSERT_CONTENT = """
INSERT INTO content (id, title, type, year, genres, platforms, rating, popularity,
                     duration_ms, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
"""

# Slow in both dialects: counts to fifty million, one row at a time.
SLOW_QUERY = """
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 50000000)
SELECT count(*) FROM c
"""


def content_row(id: str, *, title: str = "Title", year: int = 2000, popularity: float = 1.0):
    return (id, title, "movie", year, '["drama"]', '["web"]', 7.5, popularity, 5_400_000, 1)


async def count(storage: Storage, table: str = "content") -> int:
    return await storage.fetchval(f"SELECT count(*) FROM {table}")


async def test_crud_round_trip(storage: Storage) -> None:
    assert await storage.execute(INSERT_CONTENT, *content_row("m1", title="Heat")) == 1

    row = await storage.fetchrow("SELECT * FROM content WHERE id = $1", "m1")
    assert type(row) is dict
    assert row == {
        "id": "m1",
        "title": "Heat",
        "type": "movie",
        "year": 2000,
        "genres": '["drama"]',
        "platforms": '["web"]',
        "rating": 7.5,
        "popularity": 1.0,
        "duration_ms": 5_400_000,
        "updated_at": 1,
        "series_id": "",  # migration 0010: not in a series
        "season": 0,
        "episode": 0,
    }
    assert type(row["popularity"]) is float and type(row["duration_ms"]) is int

    updated = await storage.execute(
        "UPDATE content SET title = $2, popularity = $3 WHERE id = $1", "m1", "Heat (1995)", 9.25
    )
    assert updated == 1
    assert await storage.fetchval("SELECT title FROM content WHERE id = $1", "m1") == "Heat (1995)"

    assert await storage.execute("DELETE FROM content WHERE id = $1", "m1") == 1
    assert await storage.fetchrow("SELECT * FROM content WHERE id = $1", "m1") is None
    assert await storage.fetchval("SELECT title FROM content WHERE id = $1", "m1") is None
    assert await storage.fetch("SELECT * FROM content") == []


async def test_upsert_and_returning(storage: Storage) -> None:
    await storage.execute(INSERT_CONTENT, *content_row("m1", title="Old"))
    upsert = (
        INSERT_CONTENT
        + "ON CONFLICT (id) DO UPDATE SET title = excluded.title RETURNING id, title"
    )
    row = await storage.fetchrow(upsert, *content_row("m1", title="New"))
    assert row == {"id": "m1", "title": "New"}
    assert await count(storage) == 1


async def test_counter_upsert_adds(storage: Storage) -> None:
    await storage.execute(
        "INSERT INTO experiments (id, name, variants, seed, created_at, updated_at) "
        "VALUES ($1, $2, $3, $4, $5, $6)",
        "e1", "E", '[{"name": "a", "weight": 1}]', "s", 1, 1,
    )
    bump = (
        "INSERT INTO experiment_exposures (experiment_id, variant, count) VALUES ($1, $2, $3) "
        "ON CONFLICT (experiment_id, variant) "
        "DO UPDATE SET count = experiment_exposures.count + excluded.count"
    )
    await storage.executemany(bump, [("e1", "a", 2), ("e1", "b", 1)])
    await storage.executemany(bump, [("e1", "a", 3)])
    rows = await storage.fetch(
        "SELECT variant, count FROM experiment_exposures WHERE experiment_id = $1 ORDER BY variant",
        "e1",
    )
    assert rows == [{"variant": "a", "count": 5}, {"variant": "b", "count": 1}]


async def test_json_text_round_trip(storage: Storage) -> None:
    genres = ["Ciência", "日本", 'quote " and \\ backslash', "emoji 🎬"]
    await storage.execute(
        INSERT_CONTENT,
        "m1", "T", "movie", 2001, orjson.dumps(genres).decode(), "[]", 1.0, 1.0, 0, 1,
    )
    stored = await storage.fetchval("SELECT genres FROM content WHERE id = $1", "m1")
    assert orjson.loads(stored) == genres


async def test_placeholders_out_of_order_reused_and_in_literals(storage: Storage) -> None:
    # $10 must not be read as $1 followed by "0"; the order of $n in the text is free.
    reordered = """
    INSERT INTO content (updated_at, duration_ms, popularity, rating, platforms, genres,
                         year, type, title, id)
    VALUES ($10, $9, $8, $7, $6, $5, $4, $3, $2, $1)
    """
    await storage.execute(reordered, *content_row("m10", title="Ten"))
    row = await storage.fetchrow("SELECT id, title, updated_at FROM content WHERE id = $1", "m10")
    assert row == {"id": "m10", "title": "Ten", "updated_at": 1}

    literal = await storage.fetchval(
        "SELECT '$2 stays' || title FROM content WHERE id = $1 OR title = $1", "m10"
    )
    assert literal == "$2 staysTen"


async def test_keyset_paging_orders_text_alike(storage: Storage) -> None:
    titles = ["b", "B", "a", "Z", "é", "aa"]
    await storage.executemany(
        INSERT_CONTENT, [content_row(f"m{i}", title=t) for i, t in enumerate(titles)]
    )
    page = "SELECT title, id FROM content WHERE (title, id) > ($1, $2) ORDER BY title, id LIMIT $3"
    seen, last = [], ("", "")
    while rows := await storage.fetch(page, *last, 4):
        seen += [r["title"] for r in rows]
        last = (rows[-1]["title"], rows[-1]["id"])
    assert seen == sorted(titles)  # code point order in both dialects


async def test_transaction_commits(storage: Storage) -> None:
    async with storage.transaction() as tx:
        await tx.execute(INSERT_CONTENT, *content_row("m1"))
        assert await tx.fetchval("SELECT count(*) FROM content") == 1
        # Not visible outside before commit.
        assert await count(storage) == 0
        await tx.executemany(INSERT_CONTENT, [content_row("m2"), content_row("m3")])
        assert [r["id"] for r in await tx.fetch("SELECT id FROM content ORDER BY id")] == [
            "m1", "m2", "m3",
        ]
    assert await count(storage) == 3


async def test_transaction_rolls_back_on_exception(storage: Storage) -> None:
    class Boom(Exception):
        pass

    with pytest.raises(Boom):
        async with storage.transaction() as tx:
            await tx.execute(INSERT_CONTENT, *content_row("m1"))
            raise Boom
    assert await count(storage) == 0
    # The connection went back clean: the next transaction works.
    async with storage.transaction() as tx:
        await tx.execute(INSERT_CONTENT, *content_row("m2"))
    assert await count(storage) == 1


async def test_transaction_rolls_back_on_cancellation(storage: Storage) -> None:
    with trio.move_on_after(0.2) as scope:
        async with storage.transaction() as tx:
            await tx.execute(INSERT_CONTENT, *content_row("m1"))
            await trio.sleep_forever()
    assert scope.cancelled_caught
    assert await count(storage) == 0


async def test_finished_transaction_refuses_statements(storage: Storage) -> None:
    async with storage.transaction() as tx:
        pass
    with pytest.raises(StorageError):
        await tx.execute(INSERT_CONTENT, *content_row("m1"))


async def test_unique_violation_mapped(storage: Storage) -> None:
    await storage.execute(INSERT_CONTENT, *content_row("m1"))
    with pytest.raises(UniqueViolation):
        await storage.execute(INSERT_CONTENT, *content_row("m1"))
    with pytest.raises(UniqueViolation):
        async with storage.transaction() as tx:
            await tx.execute(INSERT_CONTENT, *content_row("m2"))
            await tx.execute(INSERT_CONTENT, *content_row("m2"))
    assert await count(storage) == 1


async def test_other_constraints_are_integrity_violations(storage: Storage) -> None:
    with pytest.raises(IntegrityViolation) as caught:  # foreign key
        await storage.execute(
            "INSERT INTO token_families (id, user_id, created_at, expires_at) "
            "VALUES ($1, $2, $3, $4)",
            "f1", "no-such-user", 1, 2,
        )
    assert not isinstance(caught.value, UniqueViolation)
    with pytest.raises(IntegrityViolation):  # check constraint
        await storage.execute(INSERT_CONTENT, "m1", "T", "podcast", 2000, "[]", "[]", 1.0, 1.0, 0, 1)


async def test_executemany_of_nothing_does_nothing(storage: Storage) -> None:
    await storage.executemany(INSERT_CONTENT, [])
    async with storage.transaction() as tx:
        await tx.executemany(INSERT_CONTENT, [])
    assert await count(storage) == 0


async def test_executemany_is_atomic(storage: Storage) -> None:
    rows = [content_row("m1"), content_row("m2"), content_row("m1")]
    with pytest.raises(UniqueViolation):
        await storage.executemany(INSERT_CONTENT, rows)
    assert await count(storage) == 0


PROBE_TABLE = "CREATE TABLE batch_probe (k TEXT PRIMARY KEY, i BIGINT, f DOUBLE PRECISION, s TEXT, b BYTEA)"
PROBE_UPSERT = """
INSERT INTO batch_probe (k, i, f, s, b) VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (k) DO UPDATE SET i = batch_probe.i + excluded.i, s = excluded.s
"""


async def test_executemany_keeps_values_exactly(storage: Storage) -> None:
    await storage.execute(PROBE_TABLE)
    rows = [
        ("a", 2**62, 0.1, 'ünï "q" \\ 🎬', None),
        ("b", -1, 1e300, None, None),
        ("c", None, -0.0, "", None),
    ]
    await storage.executemany(PROBE_UPSERT, rows)
    # A row the JSON path cannot carry (bytes) goes in row by row, in the same batch.
    await storage.executemany(PROBE_UPSERT, [("d", 0, 2.5, "x", b"\x00\xff"), ("e", 1, 3.5, "y", None)])
    got = await storage.fetch("SELECT k, i, f, s, b FROM batch_probe ORDER BY k")
    assert [tuple(r.values()) for r in got[:3]] == rows
    assert got[3]["b"] == b"\x00\xff" and got[4]["s"] == "y"


async def test_executemany_keeps_values_that_repeat_in_every_row_or_only_look_equal(
    storage: Storage, storage_url: str
) -> None:
    await storage.execute(PROBE_TABLE)
    # i: one int in every row; s: one string; b: NULL everywhere.
    await storage.executemany(PROBE_UPSERT, [("a", 7, -0.0, "same", None), ("b", 7, 0.0, "same", None)])
    # k alone varies.
    await storage.executemany(PROBE_UPSERT, [(f"k{i}", 1, 0.5, "one", None) for i in range(3)])
    got = await storage.fetch("SELECT k, i, f, s, b FROM batch_probe ORDER BY k")
    assert [tuple(r.values()) for r in got] == [
        ("a", 7, 0.0, "same", None), ("b", 7, 0.0, "same", None),
        ("k0", 1, 0.5, "one", None), ("k1", 1, 0.5, "one", None), ("k2", 1, 0.5, "one", None)]
    # Rows that are all alike are all inserted (the second conflicts and adds to i).
    await storage.executemany(PROBE_UPSERT, [("z", 1, 0.0, "x", None)] * 2)
    assert await storage.fetchval("SELECT i FROM batch_probe WHERE k = $1", "z") == 2
    if storage_url.startswith("sqlite"):
        # 1 and 1.0 are equal in Python; a TEXT column in SQLite keeps them as '1', '1.0'.
        await storage.executemany(PROBE_UPSERT, [("t1", 0, 0.0, 1, None), ("t2", 0, 0.0, 1.0, None)])
        assert await storage.fetchval("SELECT s FROM batch_probe WHERE k = $1", "t2") == "1.0"


async def test_executemany_keeps_a_nul_character_or_refuses_it(storage: Storage, storage_url: str) -> None:
    await storage.execute(PROBE_TABLE)
    rows = [("a\x00b", 1, 0.0, "x\x00y", None), ("c", 2, 0.0, "\\u0000 literal", None)]
    if storage_url.startswith("sqlite"):
        await storage.executemany(PROBE_UPSERT, rows)
        got = await storage.fetch("SELECT k, s FROM batch_probe ORDER BY k")
        assert got == [{"k": "a\x00b", "s": "x\x00y"}, {"k": "c", "s": "\\u0000 literal"}]
    else:  # PostgreSQL text cannot hold NUL: the whole batch is refused
        with pytest.raises(StorageError):
            await storage.executemany(PROBE_UPSERT, rows)
        assert await count(storage, "batch_probe") == 0


async def test_executemany_upserts_rows_in_order(storage: Storage) -> None:
    await storage.execute(PROBE_TABLE)
    await storage.executemany(PROBE_UPSERT, [("k", 1, 0.0, "first", None), ("k", 2, 0.0, "second", None)])
    async with storage.transaction() as tx:
        await tx.executemany(PROBE_UPSERT, [("k", 4, 0.0, "third", None), ("j", 8, 0.0, "j", None)])
    assert await storage.fetch("SELECT k, i, s FROM batch_probe ORDER BY k") == [
        {"k": "j", "i": 8, "s": "j"}, {"k": "k", "i": 7, "s": "third"}]


async def test_execute_counts_affected_rows(storage: Storage) -> None:
    await storage.executemany(INSERT_CONTENT, [content_row(f"m{i}") for i in range(5)])
    assert await storage.execute("UPDATE content SET popularity = $1 WHERE year = $2", 2.0, 2000) == 5
    assert await storage.execute("DELETE FROM content WHERE id IN ($1, $2)", "m1", "nope") == 1


async def test_sql_error_is_a_plain_storage_error(storage: Storage) -> None:
    with pytest.raises(StorageError) as caught:
        await storage.fetch("SELEC nonsense")
    assert type(caught.value) is StorageError
    with pytest.raises(StorageError):
        await storage.fetch("SELECT * FROM no_such_table")


async def test_concurrent_reads_and_writes(storage: Storage) -> None:
    async def writer(n: int) -> None:
        for i in range(10):
            await storage.execute(INSERT_CONTENT, *content_row(f"w{n}-{i}"))

    async def reader() -> None:
        for _ in range(10):
            assert 0 <= await count(storage) <= 40

    async with trio.open_nursery() as nursery:
        for n in range(4):
            nursery.start_soon(writer, n)
            nursery.start_soon(reader)
    assert await count(storage) == 40


async def test_statement_timeout_mapped(aio_loop: object, storage_url: str) -> None:
    async with connect_storage(storage_url, pool_size=2, timeout=0.3) as storage:
        started = time.monotonic()
        with pytest.raises(StorageTimeout):
            await storage.fetchval(SLOW_QUERY)
        assert time.monotonic() - started < 2.0
        # The connection that ran it is usable again.
        for _ in range(3):
            assert await storage.fetchval("SELECT 1") == 1


async def test_waiting_for_a_connection_times_out(aio_loop: object, storage_url: str) -> None:
    async with connect_storage(storage_url, pool_size=1, timeout=0.3) as storage:
        await migrate(storage)
        async with storage.transaction(timeout=5) as tx:
            await tx.execute(INSERT_CONTENT, *content_row("m1"))
            started = time.monotonic()
            with pytest.raises(StorageTimeout):
                await storage.execute(INSERT_CONTENT, *content_row("m2"))
            assert time.monotonic() - started < 2.0
        assert await storage.execute(INSERT_CONTENT, *content_row("m3")) == 1
        assert await count(storage) == 2


async def test_closed_storage_is_unavailable(aio_loop: object, storage_url: str) -> None:
    async with connect_storage(storage_url, pool_size=2) as storage:
        pass
    with pytest.raises(StorageUnavailable):
        await storage.fetchval("SELECT 1")
    with pytest.raises(StorageUnavailable):
        async with storage.transaction():
            pass


async def test_lock_wait_times_out_and_leaves_storage_usable(
    aio_loop: object, storage_url: str
) -> None:
    async with connect_storage(storage_url, pool_size=3, timeout=0.3) as storage:
        await migrate(storage)
        await storage.execute(INSERT_CONTENT, *content_row("m1"))
        rename = "UPDATE content SET title = $2 WHERE id = $1"
        async with storage.transaction(timeout=5) as holder:
            await holder.execute(rename, "m1", "held")
            started = time.monotonic()
            with pytest.raises(StorageTimeout):
                async with storage.transaction() as waiter:
                    await waiter.execute(rename, "m1", "waited")
            assert time.monotonic() - started < 2.0
        assert await storage.fetchval("SELECT title FROM content WHERE id = $1", "m1") == "held"
        assert await storage.execute(rename, "m1", "after") == 1
