"""Reading JSON whose numbers no 64-bit integer or double holds.

JSON puts no limit on numbers: `1e400` and `18446744073709551616` are valid JSON, so a
frame holding one is no parse error (-32700). orjson, which reads every frame, refuses a
number past the double range and reads an integer past 64 bits as a rounded double.
`loads` keeps orjson for every frame and, only in those two rare cases, reads the text
again with the standard library, where each such number becomes `OUT_OF_RANGE`: a value
of no JSON type, so a params schema refuses it naming its field (-32602) and an id
holding it is an invalid request (-32600). Integers from -2**63 to 2**64 - 1 and finite
doubles stay what orjson makes of them. An integer past 64 bits in a frame orjson reads
alone comes as orjson makes it, the nearest double: integer fields refuse a double and
number fields check its range, so no integer past 64 bits gets in either way.

Cost: nothing on the common path but a type test of the top-level ids; the second
reading happens only for a frame orjson refused for an infinite number, or whose id is
a double of magnitude 2**63 or more (a rounded integer, or a large double sent as such).
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

import orjson

__all__ = ["OUT_OF_RANGE", "OutOfRange", "loads"]

INT_MIN, INT_MAX = -(2**63), 2**64 - 1  # what orjson reads as an int: i64 and u64
_ID_SUSPECT = 2.0**63  # a double id this large may have been an integer orjson rounded
_INFINITE = "number is infinity"  # the start of orjson's message for such a number
_SURROGATE = re.compile("[\ud800-\udfff]")


class OutOfRange:
    """A JSON number that no 64-bit integer or double holds (see the module docstring)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "OUT_OF_RANGE"


OUT_OF_RANGE = OutOfRange()


def loads(data: str | bytes) -> Any:
    """`orjson.loads`, except that numbers no 64-bit type holds come back as
    `OUT_OF_RANGE` (and a top-level id such as `2**64` is not rounded). Raises
    `orjson.JSONDecodeError` for text that is not JSON."""
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        if not exc.msg.startswith(_INFINITE):
            raise
        return _loads_wide(data, exc)
    if _has_suspect_id(doc):
        return _loads_wide(data, None)
    return doc


def _has_suspect_id(doc: Any) -> bool:
    if type(doc) is dict:
        rid = doc.get("id")
        return type(rid) is float and abs(rid) >= _ID_SUSPECT
    if type(doc) is list:
        for member in doc:
            if type(member) is dict:
                rid = member.get("id")
                if type(rid) is float and abs(rid) >= _ID_SUSPECT:
                    return True
    return False


def _int(text: str) -> int | OutOfRange:
    if len(text) > 20:  # past 64 bits whatever the digits (and int() refuses > 4300)
        return OUT_OF_RANGE
    value = int(text)
    return value if INT_MIN <= value <= INT_MAX else OUT_OF_RANGE


def _float(text: str) -> float | OutOfRange:
    value = float(text)
    return value if math.isfinite(value) else OUT_OF_RANGE


def _constant(text: str) -> None:
    raise ValueError(f"{text} is not JSON")


def _loads_wide(data: str | bytes, refused: orjson.JSONDecodeError | None) -> Any:
    """The standard library's reading, with the hooks above; refused as orjson would
    refuse it for anything but its numbers (lone surrogates, which the standard library
    takes)."""
    try:
        text = data if isinstance(data, str) else bytes(data).decode()
        doc = json.loads(text, parse_int=_int, parse_float=_float, parse_constant=_constant)
    except (ValueError, RecursionError):
        raise refused or orjson.JSONDecodeError("not JSON", "", 0) from None
    if _holds_surrogate(doc):
        raise orjson.JSONDecodeError("lone surrogate in a string", "", 0)
    return doc


def _holds_surrogate(value: Any) -> bool:
    """Whether a string or key anywhere in `value` holds a lone surrogate. Iterative:
    the standard library reads deeper nesting than Python's recursion limit allows."""
    stack = [value]
    while stack:
        item = stack.pop()
        if type(item) is str:
            if _SURROGATE.search(item):
                return True
        elif type(item) is dict:
            for key, child in item.items():
                if _SURROGATE.search(key):
                    return True
                stack.append(child)
        elif type(item) is list:
            stack.extend(item)
    return False
