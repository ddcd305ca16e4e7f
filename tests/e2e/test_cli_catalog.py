"""import-catalog, demo-catalog and migrate as a user runs them."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import orjson

from tests.support import ROOT


def cli(*args: str, data_dir: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "main.py"), *args, "--data-dir", str(data_dir)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)


def titles(data_dir: Path) -> list[tuple]:
    with sqlite3.connect(data_dir / "gateway.db") as db:
        return db.execute("SELECT id, title, genres FROM content ORDER BY id").fetchall()


GOOD = {"id": "m1", "title": "Amélie", "type": "movie", "year": 2001, "genres": ["Comedy", "Romance"],
        "platforms": ["Netflix"], "rating": 8.3, "popularity": 120.5, "duration_ms": 7_320_000}


def test_migrate_then_up_to_date(tmp_path: Path) -> None:
    first = cli("migrate", data_dir=tmp_path)
    assert first.returncode == 0 and "applied 0001" in first.stdout
    again = cli("migrate", data_dir=tmp_path)
    assert again.returncode == 0 and "up to date" in again.stdout


def test_import_jsonl(tmp_path: Path) -> None:
    path = tmp_path / "catalog.jsonl"
    rows = [GOOD, {**GOOD, "id": "m2", "title": "The Matrix", "year": 1999}]
    path.write_bytes(b"\n".join(orjson.dumps(r) for r in rows) + b"\n")
    done = cli("import-catalog", str(path), data_dir=tmp_path)
    assert done.returncode == 0, done.stderr
    assert [(r[0], r[1]) for r in titles(tmp_path)] == [("m1", "Amélie"), ("m2", "The Matrix")]


def test_import_csv(tmp_path: Path) -> None:
    path = tmp_path / "catalog.csv"
    path.write_text("id,title,type,year,genres,platforms,rating,popularity,duration_ms\n"
                    "c1,Heat,movie,1995,Crime|Thriller,Netflix,8.3,50,10200000\n"
                    'c2,"Crouching Tiger, Hidden Dragon",movie,2000,Action,Prime,7.9,20,7200000\n')
    done = cli("import-catalog", str(path), data_dir=tmp_path)
    assert done.returncode == 0, done.stderr
    assert titles(tmp_path) == [("c1", "Heat", '["Crime","Thriller"]'),
                                ("c2", "Crouching Tiger, Hidden Dragon", '["Action"]')]


def test_bad_rows_are_named_and_nothing_lands(tmp_path: Path) -> None:
    path = tmp_path / "catalog.jsonl"
    path.write_text("\n".join([
        orjson.dumps(GOOD).decode(),
        orjson.dumps({**GOOD, "id": "m2", "rating": 11}).decode(),
        "{not json",
        orjson.dumps({**GOOD, "id": "m4", "type": "podcast"}).decode(),
        orjson.dumps(GOOD).decode(),
    ]) + "\n")
    done = cli("import-catalog", str(path), data_dir=tmp_path)
    assert done.returncode == 1
    for needle in ("line 2", "rating", "line 3", "line 4", "type", "line 5", "already on line 1", "nothing imported"):
        assert needle in done.stderr, (needle, done.stderr)
    assert "Traceback" not in done.stderr
    assert titles(tmp_path) == []


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    done = cli("import-catalog", str(tmp_path / "absent.jsonl"), data_dir=tmp_path)
    assert done.returncode == 1 and "cannot read" in done.stderr and "Traceback" not in done.stderr


def test_demo_catalog_is_deterministic(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    assert cli("demo-catalog", "--titles", "300", "--seed", "7", data_dir=a).returncode == 0
    assert cli("demo-catalog", "--titles", "300", "--seed", "7", data_dir=b).returncode == 0
    assert titles(a) == titles(b) and len(titles(a)) == 300
