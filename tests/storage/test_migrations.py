"""The migration runner, against both adapters (``raw_storage`` is an empty database)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import trio

from actors.storage import (
    MIGRATIONS_ROOT,
    MigrationError,
    Storage,
    StorageError,
    connect_storage,
    migrate,
)

ALL = sorted(p.name for p in (MIGRATIONS_ROOT / "sqlite").glob("*.sql"))

# Takes a moment in both dialects, so that concurrent runners overlap.
SLOW_MIGRATION = """
CREATE TABLE slow AS
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 300000)
SELECT count(*) AS n FROM c;
"""


def copy_migrations(storage: Storage, tmp_path: Path) -> Path:
    folder = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_ROOT / storage.dialect, folder)
    return folder


def test_both_dialects_have_the_same_migrations() -> None:
    postgres = sorted(p.name for p in (MIGRATIONS_ROOT / "postgres").glob("*.sql"))
    assert postgres == ALL and ALL


async def test_empty_database_gets_every_migration_in_order(raw_storage: Storage) -> None:
    assert await migrate(raw_storage) == ALL
    rows = await raw_storage.fetch("SELECT name, checksum FROM schema_migrations ORDER BY name")
    assert [r["name"] for r in rows] == ALL
    assert all(len(r["checksum"]) == 64 for r in rows)
    for table in [
        "content", "spell_corrections", "experiments", "experiment_assignments",
        "experiment_exposures", "users", "login_failures", "token_families",
        "refresh_tokens", "playback_sessions", "playback_positions",
    ]:
        assert await raw_storage.fetchval(f"SELECT count(*) FROM {table}") == 0


async def test_rerun_is_a_no_op(raw_storage: Storage) -> None:
    await migrate(raw_storage)
    assert await migrate(raw_storage) == []
    assert await raw_storage.fetchval("SELECT count(*) FROM schema_migrations") == len(ALL)


async def test_new_file_is_applied_later(raw_storage: Storage, tmp_path: Path) -> None:
    folder = copy_migrations(raw_storage, tmp_path)
    await migrate(raw_storage, folder)
    (folder / "9900_extra.sql").write_text("CREATE TABLE extra (id TEXT PRIMARY KEY);\n")
    assert await migrate(raw_storage, folder) == ["9900_extra.sql"]
    assert await raw_storage.fetchval("SELECT count(*) FROM extra") == 0


async def test_edited_applied_file_is_refused(raw_storage: Storage, tmp_path: Path) -> None:
    folder = copy_migrations(raw_storage, tmp_path)
    await migrate(raw_storage, folder)
    edited = folder / ALL[1]
    edited.write_text(edited.read_text() + "\n-- an innocent-looking edit\n")
    (folder / "9900_extra.sql").write_text("CREATE TABLE extra (id TEXT PRIMARY KEY);\n")

    with pytest.raises(MigrationError) as caught:
        await migrate(raw_storage, folder)
    message = str(caught.value)
    assert ALL[1] in message and "edited" in message
    # Refused before applying anything.
    with pytest.raises(StorageError):
        await raw_storage.fetchval("SELECT count(*) FROM extra")


async def test_failing_migration_is_rolled_back(raw_storage: Storage, tmp_path: Path) -> None:
    folder = copy_migrations(raw_storage, tmp_path)
    (folder / "9900_broken.sql").write_text(
        "CREATE TABLE half (id TEXT PRIMARY KEY);\nINSERT INTO no_such_table VALUES (1);\n"
    )
    with pytest.raises(MigrationError) as caught:
        await migrate(raw_storage, folder)
    assert "9900_broken.sql" in str(caught.value)
    # The earlier files stayed applied; nothing of the broken one remains.
    names = [r["name"] for r in await raw_storage.fetch("SELECT name FROM schema_migrations")]
    assert sorted(names) == ALL
    with pytest.raises(StorageError):
        await raw_storage.fetchval("SELECT count(*) FROM half")


@pytest.mark.parametrize("name", ["1_short.sql", "0001_Upper.sql", "0001-dash.sql"])
async def test_malformed_file_name_is_refused(raw_storage: Storage, tmp_path: Path, name: str) -> None:
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / name).write_text("SELECT 1;")
    with pytest.raises(MigrationError, match="NNNN_lowercase_name"):
        await migrate(raw_storage, folder)


async def test_duplicate_number_is_refused(raw_storage: Storage, tmp_path: Path) -> None:
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "0001_a.sql").write_text("SELECT 1;")
    (folder / "0001_b.sql").write_text("SELECT 1;")
    with pytest.raises(MigrationError, match="share number 0001"):
        await migrate(raw_storage, folder)


async def test_two_concurrent_runners_apply_each_migration_once(
    aio_loop: object, storage_url: str, tmp_path: Path
) -> None:
    async with connect_storage(storage_url) as first, connect_storage(storage_url) as second:
        folder = copy_migrations(first, tmp_path)
        (folder / "9500_slow.sql").write_text(SLOW_MIGRATION)
        (folder / "9501_after.sql").write_text("CREATE TABLE after_slow (id TEXT PRIMARY KEY);\n")
        expected = sorted(p.name for p in folder.glob("*.sql"))

        results: dict[str, list[str]] = {}

        async def run(name: str, storage: Storage) -> None:
            results[name] = await migrate(storage, folder)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(run, "first", first)
            nursery.start_soon(run, "second", second)

        applied = results["first"] + results["second"]
        assert sorted(applied) == expected  # every one applied, none twice
        assert await first.fetchval("SELECT count(*) FROM schema_migrations") == len(expected)
        assert await first.fetchval("SELECT n FROM slow") == 300000
