"""Filters and facets over hit bitsets: one engine for every hit set, small or large.

Facets are disjunctive: each group is counted under every other active filter but not
its own (so a client can offer the other genres beside the one picked).
"""

from __future__ import annotations

import bisect
import math
from typing import Any

from actors.search import bits
from actors.search.documents import RATING_BUCKETS, TYPE_CODE, Documents, rating_bucket
from actors.search.filters import Filters

FACET_VALUES = 100
DIRECT_RANGE_BELOW = 4096  # hit sets smaller than this take their year/rating range slot by slot


def apply(docs: Documents, hits: int, f: Filters, include_facets: bool) -> tuple[int, dict[str, Any] | None]:
    """(the hits passing `f`, facets of `hits` under `f` or None)."""
    base = hits
    if f.types:
        tb = 0
        for t in f.types:
            tb |= docs.type_bits[TYPE_CODE[t]]
        base &= tb
    if f.year_min is not None or f.year_max is not None:
        lo = f.year_min if f.year_min is not None else -(10**9)
        hi = f.year_max if f.year_max is not None else 10**9
        yb = 0
        for y, b in docs.year_bits.items():
            if lo <= y <= hi:
                yb |= b
        base &= yb
    if f.rating_min is not None or f.rating_max is not None:
        base &= _rating_bits(docs, f.rating_min, f.rating_max)
    gb = docs.genres.bits_of(f.genres) if f.genres else None
    pb = docs.platforms.bits_of(f.platforms) if f.platforms else None
    g_ok = base if gb is None else base & gb
    p_ok = base if pb is None else base & pb
    final = g_ok if pb is None else g_ok & pb
    if not include_facets:
        return final, None
    facets: dict[str, Any] = {
        "genres": _top({g: (p_ok & b).bit_count() for g, b in enumerate(docs.genres.bits)}, docs.genres.names),
        "platforms": _top({p: (g_ok & b).bit_count() for p, b in enumerate(docs.platforms.bits)},
                          docs.platforms.names),
        "year_range": None,
        "rating_range": None,
    }
    if final:
        facets["year_range"], facets["rating_range"] = _ranges(docs, final)
    return final, facets


def _top(counts: dict[int, int], names: list[str]) -> list[dict[str, Any]]:
    pairs = sorted(((-c, names[i]) for i, c in counts.items() if c))[:FACET_VALUES]
    return [{"value": name, "count": -c} for c, name in pairs]


def _ranges(docs: Documents, final: int) -> tuple[dict[str, Any], dict[str, Any]]:
    if final.bit_count() < DIRECT_RANGE_BELOW:
        slots = bits.to_ids(final)
        years = [docs.year[d] for d in slots]
        ratings = [docs.rating[d] for d in slots]
        return {"min": min(years), "max": max(years)}, {"min": min(ratings), "max": max(ratings)}
    y_bits = docs.year_bits
    years = sorted(y_bits)
    lo_year = next(y for y in years if y_bits[y] & final)
    hi_year = next(y for y in reversed(years) if y_bits[y] & final)
    r_bits, r_sorted = docs.rating_bits, docs.rating_sorted
    mem = bits.membership(final, len(docs.items))
    lo_b = next(b for b in range(RATING_BUCKETS) if r_bits[b] & final)
    hi_b = next(b for b in reversed(range(RATING_BUCKETS)) if r_bits[b] & final)
    lo_r = next(r for r, d in r_sorted[lo_b] if mem[d >> 3] >> (d & 7) & 1)
    hi_r = next(r for r, d in reversed(r_sorted[hi_b]) if mem[d >> 3] >> (d & 7) & 1)
    return {"min": lo_year, "max": hi_year}, {"min": lo_r, "max": hi_r}


def _rating_bits(docs: Documents, lo: float | None, hi: float | None) -> int:
    lo = 0.0 if lo is None else lo
    hi = 10.0 if hi is None else hi
    if lo > hi:
        return 0
    blo, bhi = rating_bucket(lo), rating_bucket(hi)
    out = 0
    for b in range(blo + 1, bhi):
        out |= docs.rating_bits[b]
    for b in {blo, bhi}:
        rs = docs.rating_sorted[b]
        i = bisect.bisect_left(rs, (lo, -1))
        j = bisect.bisect_right(rs, (hi, math.inf))
        if i == 0 and j == len(rs):
            out |= docs.rating_bits[b]
        elif i < j:
            out |= bits.from_ids([d for _, d in rs[i:j]])
    return out
