"""Buckets: the 10,000 values `hash_v2` can take, and which variants ever held them.

`hash_v2` is `(fnv(...) % 10000) / 10000`, so every user falls in one of 10,000
buckets and an experiment definition is, for assignment, a table from bucket to
variant (`variant_table`). That makes stickiness cheap to reason about:

- `claims`: for each bucket, the bit mask of the variants that some definition of the
  experiment gave that bucket while it was active. It only grows (`merge_claims`).
- A recorded assignment of a user in bucket `b` is always one of the variants in
  `claims[b]` (it was made under one of those definitions).
- So where `claims[b]` holds no variant other than today's answer for `b`, the pure
  hash already gives every user of `b` their recorded answer: no look-up needed. Only
  the other buckets (`disputed`) need the recorded assignment, and only until the
  experiment settles. A coverage increase disputes nothing; a weight change disputes
  exactly the buckets that moved between variants; lowering coverage disputes the
  buckets it takes out (users already in stay in).

Claims are stored as runs (`encode_claims`), a few dozen numbers per experiment.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import orjson

# The user's bucket: hash_v2(seed, user_id) == bucket_of(seed.encode(), user_id) / 10000.
from actors.experiments.hashing import hash_bucket as bucket_of

if TYPE_CHECKING:
    from actors.experiments.model import Experiment

__all__ = [
    "BUCKETS",
    "OUT",
    "bucket_of",
    "claims_of",
    "decode_claims",
    "disputed_buckets",
    "encode_claims",
    "merge_claims",
    "variant_table",
]

BUCKETS = 10_000
OUT = 255
"""`variant_table` entry of a bucket outside coverage (at most 20 variants exist)."""


def variant_table(experiment: Experiment) -> bytes:
    """Variant index per bucket (`OUT` outside coverage), as `assign` decides it for an
    active experiment: the same float comparisons on the same `b / 10000` values."""
    table = bytearray([OUT]) * BUCKETS
    for index, (start, end) in enumerate(experiment.ranges):
        # Only the buckets near the range are compared, each exactly as assign() does.
        first = max(0, int(start * BUCKETS) - 1)
        last = min(BUCKETS, int(end * BUCKETS) + 2)
        for b in range(first, last):
            if table[b] == OUT and start <= b / BUCKETS < end:
                table[b] = index
    return bytes(table)


def claims_of(table: bytes) -> list[int]:
    """The claims of one definition alone."""
    return [0 if v == OUT else 1 << v for v in table]


def merge_claims(claims: Sequence[int], table: bytes) -> list[int]:
    """`claims` plus what `table` gives each bucket."""
    return [c if v == OUT else c | (1 << v) for c, v in zip(claims, table)]


def disputed_buckets(claims: Sequence[int], table: bytes) -> bytes:
    """1 for each bucket where some recorded assignment may differ from `table`'s answer."""
    return bytes(
        (c != 0) if v == OUT else (c & ~(1 << v) != 0) for c, v in zip(claims, table)
    )


def encode_claims(claims: Sequence[int]) -> str:
    """JSON runs `[[start, end, mask], ...]` of the non-empty buckets (end exclusive)."""
    runs: list[list[int]] = []
    for b, mask in enumerate(claims):
        if not mask:
            continue
        if runs and runs[-1][1] == b and runs[-1][2] == mask:
            runs[-1][1] = b + 1
        else:
            runs.append([b, b + 1, mask])
    return orjson.dumps(runs).decode()


def decode_claims(text: str | None) -> list[int]:
    """The inverse of `encode_claims`; empty or missing text is no claims."""
    claims = [0] * BUCKETS
    if text:
        for start, end, mask in orjson.loads(text):
            for b in range(max(0, start), min(BUCKETS, end)):
                claims[b] = mask
    return claims
