"""The documents of the index: numbered slots in popularity order, their words and
their attribute bitsets. Pure data and the writes that keep it consistent.

Slots `0 .. base-1` are laid out at build time in rank order, popularity descending
then id ascending, so any bitset walked from its lowest bit yields its documents most
popular first (`bits.iter_ids`). A later write that keeps an item's popularity keeps
its slot; any other write puts the item in a new *late* slot at the end, kept in rank
order by the `late` list, and leaves a hole. When the late slots grow past
`relayout_due`, the owner rebuilds the layout (`Documents(items)` again).

Per slot: the item, its title words, its popularity score; per word the slots holding
it (and a bitset when it is frequent); per one- or two-letter prefix a bitset of the
slots holding a word starting with it; per genre, platform, type, year and rating
bucket a bitset.
"""

from __future__ import annotations

import bisect
import math
import sys
from collections.abc import Iterable
from itertools import chain
from operator import attrgetter

import numpy as np

from actors.catalog.model import CONTENT_TYPES, ContentItem
from actors.search import bits
from actors.search.text import normalize

WORD_BITS_FROM = 1000  # words in at least this many titles keep a bitset
PREFIX_BITS_LEN = 2  # prefixes up to this long keep a bitset
RATING_BUCKETS = 101
POP_CAP = 100.0  # popularity scores (decades) are capped here
TYPE_CODE = {t: i for i, t in enumerate(CONTENT_TYPES)}
LATE_MIN = 4096
MASK_BITS = 64


def popularity_score(popularity: float) -> float:
    """log10(1 + popularity), capped at POP_CAP: one point per tenfold popularity."""
    return min(POP_CAP, math.log10(1.0 + popularity)) if popularity > 0 else 0.0


def rank_key(item: ContentItem) -> tuple[float, str]:
    return (-item.popularity, item.id)


def _tokens(title: str, seen: dict[str, tuple[str, ...]]) -> tuple[str, ...]:
    """The title's words, interned; titles met before are not normalised again."""
    toks = seen.get(title)
    if toks is None:
        toks = seen[title] = tuple(sys.intern(t) for t in normalize(title))
    return toks


def rating_bucket(rating: float) -> int:
    """Bucket b holds the ratings r with b/10 <= r < (b+1)/10 (10.0 in 100); a bound
    outside 0..10 (a filter may be any float) is in the nearest end bucket."""
    rating = min(10.0, max(0.0, rating))  # rating * 10 of +-1e308 would be infinite
    b = int(rating * 10)
    if b / 10 > rating:
        b -= 1
    elif (b + 1) / 10 <= rating:
        b += 1
    return min(RATING_BUCKETS - 1, max(0, b))


class Labels:
    """Genre or platform names <-> small ints, matched case-insensitively; the first
    spelling seen is the one shown in facets."""

    def __init__(self) -> None:
        self.ids: dict[str, int] = {}
        self.names: list[str] = []
        self.bits: list[int] = []
        self._tuples: dict[tuple[str, ...], tuple[int, ...]] = {}

    def id_for(self, name: str) -> int:
        key = name.casefold()
        i = self.ids.get(key)
        if i is None:
            i = self.ids[key] = len(self.names)
            self.names.append(name)
            self.bits.append(0)
        return i

    def ids_for(self, names: tuple[str, ...]) -> tuple[int, ...]:
        """The ids of `names` (each once), the same tuple object for the same names."""
        key = names
        held = self._tuples.get(key)
        if held is None:
            held = self._tuples[key] = tuple(dict.fromkeys(self.id_for(n) for n in names))
        return held

    def bits_of(self, names: tuple[str, ...]) -> int:
        out = 0
        for name in names:
            i = self.ids.get(name.casefold())
            if i is not None:
                out |= self.bits[i]
        return out


class Documents:
    """See the module docstring. Not thread-safe; one owner calls it."""

    def __init__(self, items: Iterable[ContentItem] = ()) -> None:
        """`items` in id order build fastest (sorts then find them in order); a later
        duplicate id wins."""
        unique: dict[str, ContentItem] = {}
        for item in items:
            unique[item.id] = item
        by_id = sorted(unique.values(), key=attrgetter("id"))
        # Rank order: popularity descending, then id ascending (the sort is stable).
        ordered = sorted(by_id, key=attrgetter("popularity"), reverse=True)
        n = len(ordered)
        self.base = n
        self.items: list[ContentItem | None] = list(ordered)
        self.slot_of: dict[str, int] = {it.id: d for d, it in enumerate(ordered)}
        self.pop: list[float] = [popularity_score(it.popularity) for it in ordered]
        self.year: list[int] = [it.year for it in ordered]
        self.rating: list[float] = [it.rating for it in ordered]
        self.genres = Labels()
        self.platforms = Labels()
        self.gids: list[tuple[int, ...]] = [self.genres.ids_for(it.genres) for it in ordered]
        self.pids: list[tuple[int, ...]] = [self.platforms.ids_for(it.platforms) for it in ordered]
        # The same as one 64-bit mask per slot, for facet counts by numpy; usable while
        # there are at most 64 genres and 64 platforms (`masks_usable`).
        self.gmask = np.zeros(max(16, n), dtype=np.uint64)
        self.pmask = np.zeros(max(16, n), dtype=np.uint64)
        seen: dict[str, tuple[str, ...]] = {}
        self.toks: list[tuple[str, ...]] = [_tokens(it.title, seen) for it in ordered]
        self.late: list[int] = []  # late slots, in rank order
        self.postings: dict[str, list[int]] = {}
        self.word_bits: dict[str, int] = {}
        self.prefix_bits: dict[str, int] = {}
        self.alive = (1 << n) - 1
        self.type_bits = [0] * len(CONTENT_TYPES)
        self.year_bits: dict[int, int] = {}
        self.rating_bits = [0] * RATING_BUCKETS
        # per bucket, (rating, slot) sorted: exact edges of a rating range by bisection
        self.rating_sorted: list[list[tuple[float, int]]] = [[] for _ in range(RATING_BUCKETS)]
        self._build(ordered)

    def _build(self, ordered: list[ContentItem]) -> None:
        postings = self.postings
        for d, toks in enumerate(self.toks):
            for w in set(toks) if len(toks) > 1 else toks:
                held = postings.get(w)
                if held is None:
                    postings[w] = [d]
                else:
                    held.append(d)
        for w, held in postings.items():
            if len(held) >= WORD_BITS_FROM:
                self.word_bits[w] = bits.from_ids(held)
        by_prefix: dict[str, list[str]] = {}
        for w in postings:
            for k in range(1, min(PREFIX_BITS_LEN, len(w)) + 1):
                by_prefix.setdefault(w[:k], []).append(w)
        for p, words in by_prefix.items():
            self.prefix_bits[p] = self.union(words)
        # Attributes column by column: titles sharing a set of genres (or platforms)
        # are gathered once, each year, type and rating bucket picked out by numpy.
        for labels, per_slot in ((self.genres, self.gids), (self.platforms, self.pids)):
            sharing: dict[tuple[int, ...], list[int]] = {}
            for d, held in enumerate(per_slot):
                group = sharing.get(held)
                if group is None:
                    sharing[held] = [d]
                else:
                    group.append(d)
            masks = self.gmask if labels is self.genres else self.pmask
            for held, slots in sharing.items():
                b = bits.from_ids(slots)
                for i in held:
                    labels.bits[i] |= b
                if held and max(held) < MASK_BITS:
                    masks[np.array(slots, dtype=np.int64)] = sum(1 << i for i in held)
        n = len(ordered)
        if not n:
            return
        types = np.fromiter((TYPE_CODE[it.type] for it in ordered), dtype=np.int8, count=n)
        for t in range(len(CONTENT_TYPES)):
            self.type_bits[t] = bits.from_ids(np.flatnonzero(types == t).tolist())
        years = np.array(self.year, dtype=np.int64)
        for y in np.unique(years).tolist():
            self.year_bits[y] = bits.from_ids(np.flatnonzero(years == y).tolist())
        ratings = np.array(self.rating, dtype=np.float64)
        buckets = np.floor(ratings * 10).astype(np.int64)
        buckets[buckets / 10 > ratings] -= 1
        buckets[(buckets + 1) / 10 <= ratings] += 1
        np.clip(buckets, 0, RATING_BUCKETS - 1, out=buckets)
        order = np.lexsort((np.arange(n), ratings, buckets))  # by bucket, rating, slot
        starts = np.searchsorted(buckets[order], np.arange(RATING_BUCKETS + 1))
        rating = self.rating
        for b in range(RATING_BUCKETS):
            slots = order[starts[b] : starts[b + 1]].tolist()
            if slots:
                self.rating_sorted[b] = [(rating[d], d) for d in slots]
                self.rating_bits[b] = bits.from_ids(slots)

    # -- reads ------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.slot_of)

    def frequency(self, word: str) -> int:
        """Number of titles holding `word` (a normalised token)."""
        held = self.postings.get(word)
        return len(held) if held else 0

    def word_set(self, word: str) -> int:
        """The bitset of the titles holding `word`."""
        b = self.word_bits.get(word)
        if b is not None:
            return b
        held = self.postings.get(word)
        return bits.from_ids(held) if held else 0

    def union(self, words: Iterable[str]) -> int:
        """The bitset of the titles holding any of `words`."""
        out = 0
        rest: list[list[int]] = []
        word_bits, postings = self.word_bits, self.postings
        for w in words:
            b = word_bits.get(w)
            if b is not None:
                out |= b
            else:
                held = postings.get(w)
                if held:
                    rest.append(held)
        if rest:
            out |= bits.from_ids(rest[0] if len(rest) == 1 else list(chain.from_iterable(rest)))
        return out

    def relayout_due(self, least: int = LATE_MIN) -> bool:
        """Late slots (or holes) are many enough (`least`, and an eighth of the live
        slots, or a quarter of all) that a fresh layout pays."""
        size = len(self.items)
        return len(self.late) > max(least, len(self.slot_of) // 8) or size - len(self.slot_of) > max(
            least, size // 4
        )

    def live_items(self) -> list[ContentItem]:
        return [it for it in self.items if it is not None]

    # -- writes -----------------------------------------------------------------------

    def upsert(self, item: ContentItem) -> tuple[list[str], list[str]]:
        """Add or replace one item; returns (words new to the index, words gone)."""
        d = self.slot_of.get(item.id)
        gone: list[str] = []
        if d is not None:
            old = self.items[d]
            assert old is not None
            if old == item:
                return [], []
            gone = self._unindex(d)
            if old.popularity != item.popularity:
                self._drop_slot(d, old)
                d = None
        if d is None:
            d = self._new_late_slot(item)
        new = self._index(d, item)
        return new, [w for w in gone if w not in self.postings]

    def remove(self, content_id: str) -> list[str] | None:
        """Drop an item; returns the words gone from the index, None if it was absent."""
        d = self.slot_of.get(content_id)
        if d is None:
            return None
        old = self.items[d]
        assert old is not None
        gone = self._unindex(d)
        self._drop_slot(d, old)
        return gone

    @property
    def masks_usable(self) -> bool:
        return len(self.genres.names) <= MASK_BITS and len(self.platforms.names) <= MASK_BITS

    def _new_late_slot(self, item: ContentItem) -> int:
        d = len(self.items)
        if d >= len(self.gmask):
            self.gmask = np.concatenate((self.gmask, np.zeros(len(self.gmask), dtype=np.uint64)))
            self.pmask = np.concatenate((self.pmask, np.zeros(len(self.pmask), dtype=np.uint64)))
        self.items.append(item)
        self.toks.append(())
        self.gids.append(())
        self.pids.append(())
        self.pop.append(0.0)
        self.year.append(0)
        self.rating.append(0.0)
        items = self.items
        bisect.insort(self.late, d, key=lambda s: rank_key(items[s]))  # type: ignore[arg-type]
        return d

    def _drop_slot(self, d: int, old: ContentItem) -> None:
        if d >= self.base:
            items = self.items
            i = bisect.bisect_left(self.late, rank_key(old), key=lambda s: rank_key(items[s]))  # type: ignore[arg-type]
            assert self.late[i] == d
            del self.late[i]
        self.items[d] = None
        self.toks[d] = ()
        self.gids[d] = self.pids[d] = ()
        self.gmask[d] = self.pmask[d] = 0
        del self.slot_of[old.id]

    def _index(self, d: int, item: ContentItem) -> list[str]:
        toks = tuple(sys.intern(t) for t in normalize(item.title))
        self.items[d] = item
        self.slot_of[item.id] = d
        self.toks[d] = toks
        self.pop[d] = popularity_score(item.popularity)
        self.year[d] = item.year
        self.rating[d] = item.rating
        bit = 1 << d
        new = []
        for w in set(toks):
            held = self.postings.get(w)
            if held is None:
                self.postings[w] = [d]
                new.append(w)
            else:
                held.append(d)
            if w in self.word_bits:
                self.word_bits[w] |= bit
            for k in range(1, min(PREFIX_BITS_LEN, len(w)) + 1):
                self.prefix_bits[w[:k]] = self.prefix_bits.get(w[:k], 0) | bit
        self.alive |= bit
        self.gids[d] = self.genres.ids_for(item.genres)
        self.pids[d] = self.platforms.ids_for(item.platforms)
        self.gmask[d] = sum(1 << i for i in self.gids[d] if i < MASK_BITS)
        self.pmask[d] = sum(1 << i for i in self.pids[d] if i < MASK_BITS)
        for g in self.gids[d]:
            self.genres.bits[g] |= bit
        for p in self.pids[d]:
            self.platforms.bits[p] |= bit
        self.type_bits[TYPE_CODE[item.type]] |= bit
        self.year_bits[item.year] = self.year_bits.get(item.year, 0) | bit
        b = rating_bucket(item.rating)
        self.rating_bits[b] |= bit
        bisect.insort(self.rating_sorted[b], (item.rating, d))
        return new

    def _unindex(self, d: int) -> list[str]:
        item = self.items[d]
        assert item is not None
        mask = ~(1 << d)
        gone = []
        for w in set(self.toks[d]):
            held = self.postings[w]
            held.remove(d)
            if not held:
                del self.postings[w]
                gone.append(w)
            if w in self.word_bits:
                self.word_bits[w] &= mask
            for k in range(1, min(PREFIX_BITS_LEN, len(w)) + 1):
                self.prefix_bits[w[:k]] &= mask
        self.alive &= mask
        for g in self.gids[d]:
            self.genres.bits[g] &= mask
        for p in self.pids[d]:
            self.platforms.bits[p] &= mask
        self.type_bits[TYPE_CODE[item.type]] &= mask
        y = self.year_bits[item.year] & mask
        if y:
            self.year_bits[item.year] = y
        else:
            del self.year_bits[item.year]
        b = rating_bucket(item.rating)
        self.rating_bits[b] &= mask
        rs = self.rating_sorted[b]
        del rs[bisect.bisect_left(rs, (item.rating, d))]
        return gone
