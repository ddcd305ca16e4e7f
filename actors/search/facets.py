"""Filters and facets over hit bitsets.

Facets are disjunctive: each group is counted under every other active filter but not
its own (so a client can offer the other genres beside the one picked). Filters are
bitset operations whatever the hits; facet counts are popcounts of the hits with each
genre's and platform's bitset, except for a few hits, counted title by title (at a
million titles a popcount costs ~0.1 ms, thirty of them more than a few thousand
titles counted one by one).
"""

from __future__ import annotations

import bisect
import math
from collections import Counter
from itertools import chain
from collections.abc import Mapping
from typing import Any

import numpy as np

from actors.search import bits
from actors.search.documents import RATING_BUCKETS, TYPE_CODE, Documents, Labels, rating_bucket
from actors.search.filters import Filters

FACET_VALUES = 100
COUNT_TITLES_PER = 256  # hit sets below one title in this many are counted title by title,
COUNT_TITLES_MAX = 4096  # but never more titles than this
COUNT_ARRAYS_PER = 16  # hit sets up to one title in this many are counted by numpy over
COUNT_ARRAYS_MAX = 150_000  # label masks (but no more than this); larger ones by popcounts


def apply(
    docs: Documents,
    hits: int,
    f: Filters,
    include_facets: bool,
    count_titles_below: int | None = None,
    arrays_max: int | None = None,
) -> tuple[int, dict[str, Any] | None]:
    """(the hits passing `f`, facets of `hits` under `f` or None). Facets of fewer hits
    than `count_titles_below` (default: a share of the catalog) are counted title by
    title, of up to `arrays_max` (default: another share) by numpy over per-title label
    masks, of more by popcounts."""
    if count_titles_below is None:
        count_titles_below = min(COUNT_TITLES_MAX, len(docs.items) // COUNT_TITLES_PER)
    if arrays_max is None:
        arrays_max = min(COUNT_ARRAYS_MAX, len(docs.items) // COUNT_ARRAYS_PER)
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
    size = base.bit_count()
    if size < count_titles_below:
        return final, _count_titles(docs, bits.to_ids(base), f)
    if size <= arrays_max and docs.masks_usable:
        return final, _count_arrays(docs, base, final, f)
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


def _count_arrays(docs: Documents, base: int, final: int, f: Filters) -> dict[str, Any]:
    """Facets of a middling hit set (`base`: the hits passing the filters other than
    genres and platforms) from each title's genre and platform masks: one gather and
    one bit unpacking per group, in C."""
    slots = bits.to_array(base)
    gm, pm = docs.gmask[slots], docs.pmask[slots]
    g_sel = p_sel = None
    if f.genres:
        g_sel = (gm & np.uint64(_mask(docs.genres, f.genres))) != 0
    if f.platforms:
        p_sel = (pm & np.uint64(_mask(docs.platforms, f.platforms))) != 0
    facets: dict[str, Any] = {
        "genres": _top(_bit_counts(gm if p_sel is None else gm[p_sel], len(docs.genres.names)),
                       docs.genres.names),
        "platforms": _top(_bit_counts(pm if g_sel is None else pm[g_sel], len(docs.platforms.names)),
                          docs.platforms.names),
        "year_range": None,
        "rating_range": None,
    }
    if final:
        facets["year_range"], facets["rating_range"] = _ranges(docs, final)
    return facets


def _mask(labels: Labels, names: tuple[str, ...]) -> int:
    m = 0
    for name in names:
        i = labels.ids.get(name.casefold())
        if i is not None:
            m |= 1 << i
    return m


def _bit_counts(masks: np.ndarray, labels: int) -> dict[int, int]:
    """How many of `masks` have each of the first `labels` bits set: {bit: count}."""
    if not len(masks):
        return {}
    out = {}
    for i in range(labels):
        c = int(np.count_nonzero(masks & np.uint64(1 << i)))
        if c:
            out[i] = c
    return out


def _count_titles(docs: Documents, base: list[int], f: Filters) -> dict[str, Any]:
    """Facets of a few hits (`base`: those passing the filters other than genres and
    platforms), title by title."""
    gids, pids = docs.gids, docs.pids
    g_ok = p_ok = base
    if f.genres:
        wanted = set(docs.genres.ids.get(g.casefold(), -1) for g in f.genres)
        g_ok = [d for d in base if not wanted.isdisjoint(gids[d])]
    if f.platforms:
        wanted = set(docs.platforms.ids.get(p.casefold(), -1) for p in f.platforms)
        p_ok = [d for d in base if not wanted.isdisjoint(pids[d])]
        final = [d for d in g_ok if not wanted.isdisjoint(pids[d])]
    else:
        final = g_ok
    facets: dict[str, Any] = {
        "genres": _top(Counter(chain.from_iterable(map(gids.__getitem__, p_ok))), docs.genres.names),
        "platforms": _top(Counter(chain.from_iterable(map(pids.__getitem__, g_ok))), docs.platforms.names),
        "year_range": None,
        "rating_range": None,
    }
    if final:
        years = list(map(docs.year.__getitem__, final))
        ratings = list(map(docs.rating.__getitem__, final))
        facets["year_range"] = {"min": min(years), "max": max(years)}
        facets["rating_range"] = {"min": min(ratings), "max": max(ratings)}
    return facets


def _top(counts: Mapping[int, int], names: list[str]) -> list[dict[str, Any]]:
    pairs = sorted(((-c, names[i]) for i, c in counts.items() if c))[:FACET_VALUES]
    return [{"value": name, "count": -c} for c, name in pairs]


def _ranges(docs: Documents, final: int) -> tuple[dict[str, Any], dict[str, Any]]:
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
