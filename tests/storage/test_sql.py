"""SQL text helpers: placeholder rewriting, classification, script splitting."""

from __future__ import annotations

import pytest

from actors.storage import placeholders
from actors.storage.sql import (
    affected_rows,
    is_read_only,
    split_sqlite_script,
    sqlite_insert_from_json,
    to_sqlite,
)


def test_rewrites_numbered_placeholders_including_two_digits() -> None:
    sql = "SELECT * FROM t WHERE a = $1 AND b IN ($2, $10) AND c = $1"
    assert to_sqlite(sql) == "SELECT * FROM t WHERE a = ?1 AND b IN (?2, ?10) AND c = ?1"


def test_leaves_literals_identifiers_and_comments_alone() -> None:
    sql = """SELECT '$1', 'it''s $2', "col$3" FROM t -- $4
    /* $5 */ WHERE x = $6"""
    assert to_sqlite(sql) == """SELECT '$1', 'it''s $2', "col$3" FROM t -- $4
    /* $5 */ WHERE x = ?6"""


def test_rewrite_is_cached() -> None:
    sql = "SELECT $1 -- cache probe"
    assert to_sqlite(sql) is to_sqlite(sql)


@pytest.mark.parametrize(
    ("sql", "read_only"),
    [
        ("SELECT 1", True),
        ("  with x AS (SELECT 1) SELECT * FROM x", True),
        ("INSERT INTO t VALUES ($1) RETURNING id", False),
        ("WITH x AS (DELETE FROM t RETURNING *) SELECT * FROM x", False),
        ("UPDATE t SET a = 1", False),
    ],
)
def test_classifies_reads_conservatively(sql: str, read_only: bool) -> None:
    assert is_read_only(sql) is read_only


def test_splits_scripts_on_statement_ends_only() -> None:
    script = """
    -- a comment; with a semicolon
    CREATE TABLE a (x TEXT DEFAULT ';');
    /* block; comment */
    INSERT INTO a VALUES ('b;c');
    CREATE TRIGGER t AFTER INSERT ON a BEGIN
        DELETE FROM a WHERE x = 'z';
    END;
    SELECT 1
    """
    statements = split_sqlite_script(script)
    assert len(statements) == 4
    assert statements[0].endswith("CREATE TABLE a (x TEXT DEFAULT ';');")
    assert statements[2].startswith("CREATE TRIGGER") and statements[2].endswith("END;")
    assert statements[3] == "SELECT 1"


def test_placeholders_for_lists() -> None:
    assert placeholders(3) == "$1, $2, $3"
    assert placeholders(2, start=4) == "$4, $5"
    with pytest.raises(ValueError):
        placeholders(0)


def test_affected_rows_from_command_tags() -> None:
    assert affected_rows("INSERT 0 3") == 3
    assert affected_rows("UPDATE 2") == 2
    assert affected_rows("DELETE 0") == 0
    assert affected_rows("SELECT 5") == 0
    assert affected_rows("CREATE TABLE") == 0


def test_single_row_insert_becomes_an_insert_over_a_json_array() -> None:
    sql = """INSERT INTO t (a, b, c) VALUES ($1, coalesce($3, 'x)''$9'), 1)
    ON CONFLICT (a) DO UPDATE SET b = excluded.b"""
    assert sqlite_insert_from_json(sql) == (
        "INSERT INTO t (a, b, c) SELECT (r.value ->> 0), coalesce((r.value ->> 2), 'x)''$9'), 1"
        " FROM json_each(?1) AS r WHERE true\n    ON CONFLICT (a) DO UPDATE SET b = excluded.b",
        (),
    )


def test_parameters_that_hold_one_value_for_every_row_are_bound_once() -> None:
    sql = "INSERT INTO t (a, b, c, d) VALUES ($1, $2, $3, $4) ON CONFLICT (a) DO NOTHING"
    assert sqlite_insert_from_json(sql, frozenset({2, 4})) == (
        "INSERT INTO t (a, b, c, d) SELECT ?2, (r.value ->> 0), ?3, (r.value ->> 1)"
        " FROM json_each(?1) AS r WHERE true ON CONFLICT (a) DO NOTHING",
        (1, 3),
    )
    # One varying parameter: the array holds its bare values.
    assert sqlite_insert_from_json("INSERT INTO t (a, b) VALUES ($2, lower($1))", frozenset({1})) == (
        "INSERT INTO t (a, b) SELECT ?2, lower(r.value) FROM json_each(?1) AS r WHERE true",
        (2,),
    )


@pytest.mark.parametrize(
    "sql",
    [
        "INSERT INTO t (a) VALUES ($1), ($2)",  # already several rows
        "INSERT INTO t (a) VALUES ($1) ON CONFLICT (a) DO UPDATE SET b = $2",  # $n after VALUES
        "INSERT INTO t (a) SELECT $1",
        "UPDATE t SET a = $1 WHERE b = $2",
        "INSERT INTO t (a) VALUES ($1",
    ],
)
def test_other_statements_are_not_rewritten(sql: str) -> None:
    assert sqlite_insert_from_json(sql) is None


def test_the_hot_batched_writes_take_the_json_path() -> None:
    from actors.catalog.store import UPSERT_SQL
    from actors.experiments.store import _ADD_EXPOSURES, _RECORD
    from actors.playback.store import UPSERT_POSITION

    for sql in (UPSERT_SQL, _RECORD, _ADD_EXPOSURES, UPSERT_POSITION):
        assert sqlite_insert_from_json(sql) is not None, sql
