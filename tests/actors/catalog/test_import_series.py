"""import-catalog with series columns, as a user runs it (SQLite)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from tests.e2e.test_cli_catalog import cli

HEADER = "id,title,type,year,genres,platforms,rating,popularity,duration_ms,series_id,season,episode\n"


def episode_row(cid: str, series_id: str, season: int, number: int) -> str:
    return f"{cid},Chapter {cid},episode,2008,Crime,Netflix,9.0,6,3480000,{series_id},{season},{number}\n"


def test_csv_with_series_columns(tmp_path: Path) -> None:
    path = tmp_path / "catalog.csv"
    path.write_text(HEADER + episode_row("e2", "s1", 1, 2) + "s1,Breaking Bad,series,2008,Crime,Netflix,9.5,50,2940000,,,\n"
                    + episode_row("e1", "s1", 1, 1) + "m1,Heat,movie,1995,Crime,Netflix,8.3,50,10200000,,,\n")
    done = cli("import-catalog", str(path), data_dir=tmp_path)
    assert done.returncode == 0, done.stderr
    with sqlite3.connect(tmp_path / "gateway.db") as db:
        rows = db.execute("SELECT id, series_id, season, episode FROM content ORDER BY id").fetchall()
    assert rows == [("e1", "s1", 1, 1), ("e2", "s1", 1, 2), ("m1", "", 0, 0), ("s1", "", 0, 0)]


def test_an_episode_of_no_series_stops_the_import(tmp_path: Path) -> None:
    path = tmp_path / "catalog.csv"
    movie = "m1,Heat,movie,1995,Crime,Netflix,8.3,50,10200000,,,\n"
    path.write_text(HEADER + movie + episode_row("e1", "s9", 1, 1) + episode_row("e2", "m1", 1, 2)
                    + episode_row("e3", "s1", 0, 1))
    done = cli("import-catalog", str(path), data_dir=tmp_path)
    assert done.returncode == 1
    assert "line 5: season: must be an integer between 1 and" in done.stderr
    path.write_text(HEADER + movie + episode_row("e1", "s9", 1, 1) + episode_row("e2", "m1", 1, 2))
    done = cli("import-catalog", str(path), data_dir=tmp_path)
    assert done.returncode == 1
    assert "line 3: series_id: no series 's9'" in done.stderr
    assert "line 4: series_id: 'm1' is a movie, not a series" in done.stderr
    with sqlite3.connect(tmp_path / "gateway.db") as db:
        assert db.execute("SELECT count(*) FROM content").fetchone() == (0,)
