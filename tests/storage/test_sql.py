"""SQL text helpers: placeholder rewriting, classification, script splitting."""

from __future__ import annotations

import pytest

from actors.storage import placeholders
from actors.storage.sql import affected_rows, is_read_only, split_sqlite_script, to_sqlite


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
