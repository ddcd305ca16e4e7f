"""Python ints as bitsets over document numbers.

A bitset of 1,000,000 documents is a 125 kB int; `&`, `|` and `int.bit_count` run in C
over it in microseconds, which is what makes counts over large hit sets (facets of a
query that matches most of the catalog) cheap without numpy. Documents are numbered in
popularity order (see `documents`), so walking a bitset from its lowest bit walks its
documents most popular first.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

# set bit positions of every byte value
_BYTE_BITS = tuple(tuple(j for j in range(8) if b >> j & 1) for b in range(256))
_NONZERO = re.compile(b"[^\x00]+")  # the regex engine skips zero bytes in C


def from_ids(ids: Iterable[int]) -> int:
    """The bitset holding `ids` (built through a bytearray: linear, not quadratic)."""
    ids = ids if isinstance(ids, (list, tuple, set, frozenset)) else list(ids)
    if not ids:
        return 0
    buf = bytearray((max(ids) >> 3) + 1)
    for d in ids:
        buf[d >> 3] |= 1 << (d & 7)
    return int.from_bytes(buf, "little")


def _raw(bits: int) -> bytes:
    return bits.to_bytes((bits.bit_length() + 7) >> 3, "little")


def to_ids(bits: int) -> list[int]:
    """The set positions of `bits`, ascending."""
    if not bits:
        return []
    out: list[int] = []
    extend = out.extend
    byte_bits = _BYTE_BITS
    for m in _NONZERO.finditer(_raw(bits)):
        for i, b in enumerate(m.group(), m.start()):
            base = i << 3
            extend([base + j for j in byte_bits[b]])
    return out


def iter_ids(bits: int) -> Iterator[int]:
    """The set positions of `bits`, ascending, lazily (a walk stops early)."""
    if not bits:
        return
    byte_bits = _BYTE_BITS
    for m in _NONZERO.finditer(_raw(bits)):
        for i, b in enumerate(m.group(), m.start()):
            base = i << 3
            for j in byte_bits[b]:
                yield base + j


def membership(bits: int, size: int) -> bytes:
    """A byte string for O(1) tests: `m[d >> 3] >> (d & 7) & 1` (size: bits covered)."""
    return bits.to_bytes((size + 8) >> 3, "little")
