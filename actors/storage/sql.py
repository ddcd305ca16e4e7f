"""SQL text helpers shared by the adapters: placeholder rewriting for SQLite,
read/write classification, script splitting, batched inserts for SQLite."""

from __future__ import annotations

import functools
import re
import sqlite3

# String literals, quoted identifiers and comments are matched first so that a "$1"
# inside them is left alone; only the bare ``$N`` outside them is rewritten.
_LITERAL = r"""'(?:[^']|'')*'|"(?:[^"]|"")*"|--[^\n]*|/\*.*?\*/"""
_TOKENS = re.compile(rf"({_LITERAL})|\$(\d+)", re.DOTALL)
_PARENS = re.compile(rf"{_LITERAL}|([()])", re.DOTALL)


def _replace(match: re.Match[str]) -> str:
    if match.group(1) is not None:
        return match.group(1)
    return "?" + match.group(2)


@functools.lru_cache(maxsize=2048)
def to_sqlite(sql: str) -> str:
    """``$1, $2`` placeholders rewritten to SQLite's numbered ``?1, ?2``."""
    return _TOKENS.sub(_replace, sql)


_INSERT_HEAD = re.compile(
    r"""(\s*INSERT\s+INTO\s+(?:"(?:[^"]|"")*"|[\w.]+)\s*(?:\([^()'"]*\))?\s*)VALUES\s*\(""",
    re.IGNORECASE,
)


@functools.lru_cache(maxsize=256)
def sqlite_insert_from_json(
    sql: str, varying: frozenset[int] | None = None
) -> tuple[str, tuple[int, ...]] | None:
    """A single-row ``INSERT ... VALUES ($1, ...) [ON CONFLICT ...]`` rewritten for
    SQLite to insert every row of a JSON array bound as ``?1``:
    ``INSERT ... SELECT (r.value ->> 0), ... FROM json_each(?1) AS r WHERE true ...``,
    with the numbers of the parameters to bind after it (as ``?2, ?3, ...``). None for
    any other statement (several VALUES rows, ``$n`` after VALUES).

    `varying` names the parameters whose value differs between the rows (None: all).
    The array holds only those, in number order, and when a single one varies, its
    bare values (``r.value``: no array per row for SQLite to parse again); every other
    parameter holds one value for all rows and is bound once.

    Why: sqlite3's ``executemany`` releases and retakes the GIL around every row, and
    with the event loop's thread busy each retake waits for it; one statement over a
    JSON array takes the GIL twice for the whole batch. Rows go in array order, one
    after another, so an upsert sees the rows before it as ``executemany`` would."""
    head = _INSERT_HEAD.match(sql)
    if head is None:
        return None
    depth = 1
    for paren in _PARENS.finditer(sql, head.end()):
        depth += {"(": 1, ")": -1}.get(paren.group(1), 0)
        if depth == 0:
            break
    else:
        return None
    body, rest = sql[head.end() : paren.start()], sql[paren.end() :]
    if rest.lstrip().startswith(",") or any(m.group(2) for m in _TOKENS.finditer(rest)):
        return None
    in_array = None if varying is None else sorted(varying)
    bound: list[int] = []

    def column(match: re.Match[str]) -> str:
        if match.group(1) is not None:
            return match.group(1)
        n = int(match.group(2))
        if in_array is None:
            return f"(r.value ->> {n - 1})"
        if n in in_array:
            return "r.value" if len(in_array) == 1 else f"(r.value ->> {in_array.index(n)})"
        if n not in bound:
            bound.append(n)
        return f"?{bound.index(n) + 2}"

    select = _TOKENS.sub(column, body)
    return f"{head.group(1)}SELECT {select} FROM json_each(?1) AS r WHERE true{rest}", tuple(bound)


_READ_START = re.compile(r"\s*(?:SELECT|WITH|VALUES|EXPLAIN)\b", re.IGNORECASE)
_WRITE_WORD = re.compile(
    r"\b(?:INSERT|UPDATE|DELETE|REPLACE|CREATE|DROP|ALTER|PRAGMA)\b", re.IGNORECASE
)


@functools.lru_cache(maxsize=2048)
def is_read_only(sql: str) -> bool:
    """True when the statement only reads. Conservative: a statement naming a
    write keyword anywhere (even in a string) counts as a write, which costs only
    running it on the writer connection."""
    return bool(_READ_START.match(sql)) and not _WRITE_WORD.search(sql)


def split_sqlite_script(script: str) -> list[str]:
    """The statements of a script, each ending with its ';'. A ';' inside a string,
    a comment or a trigger body does not end a statement (SQLite's own tokenizer
    decides, through `sqlite3.complete_statement`)."""
    statements: list[str] = []
    buffer = ""
    *pieces, tail = script.split(";")
    for piece in pieces:
        buffer += piece + ";"
        if sqlite3.complete_statement(buffer):
            if _has_code(buffer):
                statements.append(buffer.strip())
            buffer = ""
    buffer += tail
    if _has_code(buffer):
        statements.append(buffer.strip())
    return statements


_COMMENTS = re.compile(r"--[^\n]*|/\*.*?\*/", re.DOTALL)


def _has_code(text: str) -> bool:
    return bool(_COMMENTS.sub("", text).strip(" \t\r\n;"))


def placeholders(count: int, start: int = 1) -> str:
    """``"$start, ..., $(start+count-1)"``: the portable way to pass a list, as
    ``WHERE id IN ({placeholders(len(ids))})``. Statement texts are cached per
    length, so prefer a few fixed batch sizes for hot queries."""
    if count < 1:
        raise ValueError("placeholders needs at least one value")
    return ", ".join(f"${i}" for i in range(start, start + count))


_DML_TAGS = ("INSERT", "UPDATE", "DELETE", "MERGE")


def affected_rows(status: str) -> int:
    """Rows inserted, updated or deleted, from a PostgreSQL command tag ("INSERT 0 3",
    "UPDATE 2"); 0 for other commands, as SQLite reports them."""
    if not status.startswith(_DML_TAGS):
        return 0
    last = status.rpartition(" ")[2]
    return int(last) if last.isdigit() else 0
