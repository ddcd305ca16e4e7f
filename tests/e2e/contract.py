"""What the contract lets an answer be, a valid call of every contract method, and the
values a hostile client puts where numbers and strings belong.

`judge()` is the suite's one verdict on an answer: a result, or a JSON-RPC error with a
code of the contract (never -32603), -32602 carrying `data.errors: [{field, message}]`,
and callers without the right refused with -32001 / -32002.
"""

from __future__ import annotations

import json
from typing import Any, Callable, Iterator

CODES = frozenset({-32700, -32600, -32601, -32602, -32001, -32002, -32003, -32004, -32005, -32006,
                   -32007, -32008, -32009, -32010})
"""Every error code of the contract; -32603 is not among them: an internal error is a bug."""

ANYONE, USER, ADMIN = "anyone", "user", "admin"
ROLES = (None, USER, ADMIN)
"""Anonymous, an ordinary user, an admin."""

ACCESS = {
    "system.ping": ANYONE, "system.health": ANYONE, "rpc.discover": ANYONE,
    "auth.register": ANYONE, "auth.login": ANYONE, "auth.refresh": ANYONE, "auth.authenticate": ANYONE,
    "auth.logout": USER, "auth.revoke_family": USER, "user.profile": USER,
    "content.upsert": ADMIN, "content.get": ANYONE, "content.list": ANYONE, "content.episodes": ANYONE,
    "search.query": ANYONE, "search.autocomplete": ANYONE,
    "search.corrections.add": ADMIN, "search.synonyms.set": ADMIN,
    "experiments.create": ADMIN, "experiments.get": ADMIN, "experiments.list": ADMIN,
    "experiments.update": ADMIN, "experiments.stats": ADMIN, "experiments.assign": ANYONE,
    "playback.start": USER, "playback.position": USER, "playback.stop": USER, "playback.resume": USER,
    "playback.continue_watching": USER, "playback.next_up": USER, "playback.mark_played": USER,
    "playback.subscribe": USER, "playback.unsubscribe": USER,
}
"""Every method of the contract and who may call it (CONTRACT.md, "Methods")."""

MAX_INT64 = 2**63 - 1

INTS = [2**63, 2**64, -2**63 - 1, 2**63 - 1, -2**63, 2**53 + 1, 2**31, -1, 0]
FLOATS = [1e308, -1e308, 1.7976931348623157e308, -0.0, 5e-324, 0.5, 1e-300]
STRINGS = ["", " ", "x" * 100_000, "é" * 5000, "\U0001F600" * 1000, "\u202e\u0301", "' OR '1'='1' --",
           "%s%n%x", "../../../../etc/passwd", "null", "9" * 400]
SHAPES: list[Any] = [None, True, False, [], {}, [None] * 10_000, {"k": "v"},
                     json.loads("[" * 500 + "]" * 500), json.loads('{"a":' * 400 + "1" + "}" * 400)]
HOSTILE: list[Any] = INTS + FLOATS + STRINGS + SHAPES
"""What a hostile client puts in a field: integers past 64 bits and the edges of int64,
floats at the ends of their range and negative zero, long and odd strings, wrong
shapes, deep nesting."""


def allowed(method: str, role: str | None) -> bool:
    access = ACCESS.get(method, ANYONE)
    return access == ANYONE or (access == USER and role is not None) or (access == ADMIN and role == ADMIN)


def judge(method: str, role: str | None, answer: Any, params: Any = None) -> None:
    """Assert `answer` is one the contract allows for `role` calling `method`."""
    context = f"{method} as {role or 'anonymous'} with {_short(params)} -> {_short(answer)}"
    assert isinstance(answer, dict) and answer.get("jsonrpc") == "2.0", context
    if "result" in answer:
        assert "error" not in answer, context
        assert allowed(method, role), "answered without the right: " + context
        return
    error = answer.get("error")
    assert isinstance(error, dict), context
    code = error.get("code")
    assert code != -32603, "internal error: " + context
    assert code in CODES, "a code outside the contract: " + context
    assert isinstance(error.get("message"), str), context
    if not allowed(method, role) and code not in (-32601, -32600, -32700, -32006, -32008):
        expected = -32001 if role is None else -32002
        assert code in (expected, -32003), f"expected {expected}: " + context
    if code == -32602:
        problems = (error.get("data") or {}).get("errors")
        assert isinstance(problems, list) and problems, "-32602 without data.errors: " + context
        for problem in problems:
            assert isinstance(problem, dict) and isinstance(problem.get("field"), str) \
                and isinstance(problem.get("message"), str), context


def _short(value: Any, limit: int = 300) -> str:
    text = dumps(value) if not isinstance(value, str) else value
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} chars)"


def dumps(doc: Any) -> str:
    """JSON text of `doc`, integers of any size included (orjson stops at 64 bits)."""
    return json.dumps(doc, ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def request(method: str, params: Any, rid: int) -> str:
    doc: dict[str, Any] = {"jsonrpc": "2.0", "id": rid, "method": method}
    if params is not None:
        doc["params"] = params
    return dumps(doc)


Path = tuple[str | int, ...]


def paths(value: Any, prefix: Path = ()) -> Iterator[Path]:
    """Every place inside `value` (not the root itself), containers before their insides."""
    children: list[tuple[str | int, Any]] = []
    if isinstance(value, dict):
        children = list(value.items())
    elif isinstance(value, list):
        children = list(enumerate(value[:3]))
    for key, child in children:
        yield prefix + (key,)
        yield from paths(child, prefix + (key,))


def replaced(value: Any, path: Path, new: Any) -> Any:
    """A copy of `value` with the place at `path` set to `new`."""
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        copy = dict(value)
        copy[head] = replaced(value.get(head), rest, new)
        return copy
    if isinstance(value, list) and isinstance(head, int) and head < len(value):
        copy = list(value)
        copy[head] = replaced(value[head], rest, new)
        return copy
    return value


def field_name(path: Path) -> str:
    """The contract's spelling of a field: `items[0].duration_ms`."""
    text = ""
    for key in path:
        text += f"[{key}]" if isinstance(key, int) else (f".{key}" if text else str(key))
    return text


Seed = Callable[[Any, "str | None"], Any]
