"""The in-memory search index: full-text query with filters and facets, spelling
correction, autocomplete. Pure and synchronous; the search actor owns one.

Documents live in numbered slots (reused after removal). Per slot the index keeps the
item, its title tokens, a precomputed popularity score, genre/platform ids and masks,
year, rating and type, so a request touches only the documents its words select:

- an inverted index word -> set of slots (title words), and the vocabulary sorted for
  prefix lookups (bisect);
- the slots ordered by (popularity desc, id) for "most popular first" answers;
- bitsets (Python ints, see `bits`) per genre, platform, type, year and rating bucket,
  for queries that select a large part of the catalog (an empty query with filters,
  facet counts over thousands of hits).

Ranking (score desc, then id asc; scores rounded to 1e-6 so a keyset cursor can carry
them exactly): for each query term a BM25 part over title words,
``tf / (tf + k1 * (1 - b + b * len / avglen))`` weighted by the term's share of the
query's idf (so the text part is in 0..1), plus bonuses when every query word is in
the title (+0.1), the words appear as a phrase (+0.15), the title starts with them
(+0.1, a leading "the"/"a"/"an" ignored) or is exactly them (+0.25, same), plus
`popularity_score` (0..0.5, log-scaled, half at popularity 1000). Matching is AND over
the query words, except stopwords ("the", "of", ...), which are optional when the query
has other words; the last word also matches as a prefix (up to 50 completions; a title
holding a completion but not the word counts it as 0.8 of one occurrence) unless the
query ends with a separator.

Spelling: when the query as typed finds nothing, or one of its words matches nothing,
the query is corrected word by word (see `spelling` for the rule per word length and
the learned corrections) and, if the corrected query finds more, its results are
answered with `corrected_query` set to the corrected normalised text.
"""

from __future__ import annotations

import bisect
import gc
import heapq
import math
import sys
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable
from itertools import chain
from typing import Any

import attrs

from actors.catalog.model import CONTENT_TYPES, ContentItem
from actors.errors import InvalidParams
from actors.search import bits
from actors.search.filters import Filters, parse_filters
from actors.search.spelling import Speller, frequency
from actors.search.text import ARTICLES, STOPWORDS, ends_inside_word, normalize, strip_article

K1 = 1.2
B = 0.75
POP_WEIGHT = 0.5
POP_HALF = math.log1p(1000.0)
PREFIX_WEIGHT = 0.8
ALL_TERMS_BONUS = 0.1
PHRASE_BONUS = 0.15
START_BONUS = 0.1
EXACT_BONUS = 0.25

MAX_QUERY_TOKENS = 32
PREFIX_MIN = 2  # shortest last word expanded as a prefix in `query`
PREFIX_EXPANSIONS = 50  # completions of the last word in `query`, most frequent first
FACET_VALUES = 100
AUTOCOMPLETE_MAX = 50
FUZZY_PREFIX_MIN = 4  # autocomplete tolerates one typo in a prefix from this length
FUZZY_PREFIX_WORDS = 200
BITSET_FROM = 1500  # hit sets larger than this are filtered and counted as bitsets
STATIC_FROM = 1500  # queries with more hits walk the static order (see _top_walk)
WORD_BITS_FROM = 2000  # words in at least this many titles also keep a bitset
AVGDL_DRIFT = 0.05  # re-freeze the mean title length when it drifts this much
CACHE_FROM = 500  # results with this many hits, all scored, are cached until a write
CACHE_ENTRIES = 128
CACHE_MAX_HITS = 400_000  # cached hits in all, about 40 MB at most
_MAX_DL = 63  # title lengths beyond count as this
_RATING_BUCKETS = 101
_TYPE_CODE = {t: i for i, t in enumerate(CONTENT_TYPES)}
_TOP = "\U0010ffff"


def popularity_score(popularity: float) -> float:
    """The popularity part of a score: 0..POP_WEIGHT, log-scaled, half at 1000."""
    lp = math.log1p(popularity) if popularity > 0 else 0.0
    return round(POP_WEIGHT * lp / (lp + POP_HALF), 6)


def _bucket(rating: float) -> int:
    """Rating bucket b holds the ratings r with b/10 <= r < (b+1)/10 (10.0 in 100)."""
    b = int(rating * 10)
    if b / 10 > rating:
        b -= 1
    elif (b + 1) / 10 <= rating:
        b += 1
    return min(_RATING_BUCKETS - 1, max(0, b))


@attrs.frozen
class QueryResult:
    """One page of hits.

    `scores` runs parallel to `items`; `next_after` is the (score, id) keyset key of the
    last item when more hits follow it (None on the last page): pass it back as `after`.
    `facets` is {genres: [{value, count}], platforms: [...], year_range: {min, max} |
    None, rating_range: {min, max} | None} when asked for, else None.
    """

    items: list[ContentItem]
    total: int
    corrected_query: str | None = None
    facets: dict[str, Any] | None = None
    scores: list[float] = attrs.field(factory=list)
    next_after: tuple[float, str] | None = None


@attrs.frozen
class Suggestion:
    """An autocomplete answer. score: 0.5..1 for titles matching the prefix as typed,
    0..0.5 for those matching it with one typo; higher is more popular."""

    text: str
    score: float
    type: str = "title"
    content_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"text": self.text, "score": self.score, "type": self.type}
        if self.content_id is not None:
            d["content_id"] = self.content_id
        return d


@attrs.frozen
class _Plan:
    """A tokenised query resolved against the vocabulary."""

    tokens: tuple[str, ...]
    prefix_last: bool
    # per query word: (the word if in the vocabulary, " word" if it also completes
    # other words, its share of the query's idf)
    terms: tuple[tuple[str | None, str | None, float], ...]
    candidates: Any  # set/list of slots holding every required word
    unmatched: bool  # some word (required or not) matches nothing
    hits_word: str | None = None  # the word whose titles `candidates` are, if one
    single: str | None = None  # the query is this one word (no completions)


@attrs.frozen
class _Full:
    """Every hit of a query, scored: what a page is cut from (and what is cached)."""

    scored: list[tuple[float, str, int]]  # (-score, id, slot)
    total: int
    facets: dict[str, Any] | None
    corrected: str | None = None
    ordered: bool = False  # `scored` sorted
    partial: bool = False  # `scored` holds only what the page asked for, sorted


class _Labels:
    """Genre or platform names <-> small ints, matched case-insensitively; the first
    spelling seen is the one shown in facets."""

    def __init__(self) -> None:
        self.ids: dict[str, int] = {}
        self.names: list[str] = []
        self.bits: list[int] = []

    def id_for(self, name: str) -> int:
        key = name.casefold()
        i = self.ids.get(key)
        if i is None:
            i = self.ids[key] = len(self.names)
            self.names.append(name)
            self.bits.append(0)
        return i

    def mask_of(self, names: tuple[str, ...]) -> int:
        m = 0
        for name in names:
            i = self.ids.get(name.casefold())
            if i is not None:
                m |= 1 << i
        return m

    def bits_of(self, names: tuple[str, ...]) -> int:
        out = 0
        for name in names:
            i = self.ids.get(name.casefold())
            if i is not None:
                out |= self.bits[i]
        return out


class SearchIndex:
    """See the module docstring. Not thread-safe; one owner calls it."""

    bitset_from = BITSET_FROM  # tests lower these to exercise both paths
    cache_from = CACHE_FROM
    static_from = STATIC_FROM
    apart_max = STATIC_FROM  # _top_walk scores up to this many title-starting hits apart
    walk_extra = 400  # _top_walk walks 4 entries per hit of a title length, plus this

    def __init__(self, items: Iterable[ContentItem] = (), *, cache_entries: int = CACHE_ENTRIES) -> None:
        """`cache_entries`: how many expensive query results to keep between writes
        (0: no cache)."""
        self.speller = Speller({})
        self.cache_entries = cache_entries
        self._cache: OrderedDict[tuple[Any, ...], _Full] = OrderedDict()
        self._cached_hits = 0
        self._reset()
        if items:
            self.build(items)

    # -- state ------------------------------------------------------------------------

    def _reset(self) -> None:
        self._items: list[ContentItem | None] = []
        self._slot: dict[str, int] = {}
        self._free: list[int] = []
        self._toks: list[tuple[str, ...]] = []
        self._texts: list[str] = []  # " word word " per slot
        self._ids: list[str] = []
        self._pop: list[float] = []
        self._year: list[int] = []
        self._rating: list[float] = []
        self._type: list[int] = []
        self._gmask: list[int] = []
        self._pmask: list[int] = []
        self._gids: list[tuple[int, ...]] = []
        self._pids: list[tuple[int, ...]] = []
        self._postings: dict[str, set[int]] = {}
        self._vocab: list[str] = []
        self._order: list[tuple[float, str, int]] = []
        self._total_len = 0
        # BM25's mean title length is frozen (and with it each title's length factor)
        # until it drifts by AVGDL_DRIFT, so a title's score for a one-word query it
        # holds once, not first, is a static value: `_static`, ordered per title
        # length in `_sorder_dl`.
        self._avgdl = 0.0
        self._kdl = _length_factors(1.0)
        self._static: list[float] = []
        self._sorder_dl: dict[int, list[tuple[float, str, int]]] = {}  # (-static, id, slot)
        self._dl_bits: dict[int, int] = {}  # title length -> bitset
        self._starts: dict[str, set[int]] = {}  # word -> titles starting with it
        self._repeats: dict[str, set[int]] = {}  # word (not a stopword) -> titles holding it twice+
        # title words, a leading article aside -> titles (tuples: most hold one title)
        self._exact: dict[str, tuple[int, ...]] = {}
        self._word_bits: dict[str, int] = {}  # frequent word -> bitset of its titles
        self._genres = _Labels()
        self._platforms = _Labels()
        self._alive = 0
        self._t_bits = [0] * len(CONTENT_TYPES)
        self._y_bits: dict[int, int] = {}
        self._r_bits = [0] * _RATING_BUCKETS
        # per bucket, (rating, slot) sorted: exact edges of a rating range by bisection
        self._r_sorted: list[list[tuple[float, int]]] = [[] for _ in range(_RATING_BUCKETS)]
        self.speller.clear()
        self.speller.vocabulary = self._postings
        self._invalidate()

    def __len__(self) -> int:
        return len(self._slot)

    def __contains__(self, content_id: object) -> bool:
        return content_id in self._slot

    def get(self, content_id: str) -> ContentItem | None:
        slot = self._slot.get(content_id)
        return None if slot is None else self._items[slot]

    def frequency(self, word: str) -> int:
        """Number of titles containing `word` (a normalised token)."""
        return frequency(self._postings, word)

    @property
    def vocabulary_size(self) -> int:
        return len(self._vocab)

    # -- writes -----------------------------------------------------------------------

    def build(self, items: Iterable[ContentItem]) -> None:
        """Replace the whole content with `items` (a later duplicate id wins).
        Learned corrections are kept.

        The cyclic garbage collector is paused meanwhile: the build allocates millions
        of long-lived objects, and collections triggered by them only slow it down. A
        long-running owner should `gc.freeze()` afterwards, so that later full
        collections do not traverse the index (a pause of a few hundred ms at 100k)."""
        collecting = gc.isenabled()
        gc.disable()
        try:
            self._build(items)
        finally:
            if collecting:
                gc.enable()

    def _build(self, items: Iterable[ContentItem]) -> None:
        self._reset()
        unique: dict[str, ContentItem] = {}
        for item in items:
            unique[item.id] = item
        g_lists: list[list[int]] = []
        p_lists: list[list[int]] = []
        t_lists: list[list[int]] = [[] for _ in CONTENT_TYPES]
        y_lists: dict[int, list[int]] = {}
        r_lists: list[list[int]] = [[] for _ in range(_RATING_BUCKETS)]
        for item in unique.values():
            d = self._new_slot()
            self._fill(d, item)
            for g in self._gids[d]:
                while len(g_lists) <= g:
                    g_lists.append([])
                g_lists[g].append(d)
            for p in self._pids[d]:
                while len(p_lists) <= p:
                    p_lists.append([])
                p_lists[p].append(d)
            t_lists[self._type[d]].append(d)
            y_lists.setdefault(item.year, []).append(d)
            b = _bucket(item.rating)
            r_lists[b].append(d)
            self._r_sorted[b].append((item.rating, d))
        self._vocab = sorted(self._postings)
        self._order = sorted(
            (-self._pop[d], it.id, d) for d, it in enumerate(self._items) if it is not None
        )
        self._refreeze()
        for w, s in self._postings.items():
            if len(s) >= WORD_BITS_FROM:
                self._word_bits[w] = bits.from_ids(s)
        live = [d for d, it in enumerate(self._items) if it is not None]
        self._alive |= bits.from_ids(live)
        for g, ids in enumerate(g_lists):
            self._genres.bits[g] |= bits.from_ids(ids)
        for p, ids in enumerate(p_lists):
            self._platforms.bits[p] |= bits.from_ids(ids)
        for t, ids in enumerate(t_lists):
            self._t_bits[t] |= bits.from_ids(ids)
        for y, ids in y_lists.items():
            self._y_bits[y] = self._y_bits.get(y, 0) | bits.from_ids(ids)
        for b, ids in enumerate(r_lists):
            self._r_bits[b] |= bits.from_ids(ids)
            self._r_sorted[b].sort()
        self.speller.add_words(self._vocab)

    def upsert(self, item: ContentItem) -> None:
        """Add or replace one item; costs about its own size, not the catalog's."""
        d = self._slot.get(item.id)
        if d is not None:
            if self._items[d] == item:
                return
            self._unindex(d)
        else:
            d = self._free.pop() if self._free else self._new_slot()
        self._index(d, item)

    def remove(self, content_id: str) -> bool:
        """Drop an item; False if it was not there."""
        d = self._slot.get(content_id)
        if d is None:
            return False
        self._unindex(d)
        self._free.append(d)
        return True

    def _new_slot(self) -> int:
        d = len(self._items)
        self._items.append(None)
        self._toks.append(())
        self._texts.append("")
        self._ids.append("")
        self._pop.append(0.0)
        self._static.append(0.0)
        self._year.append(0)
        self._rating.append(0.0)
        self._type.append(0)
        self._gmask.append(0)
        self._pmask.append(0)
        self._gids.append(())
        self._pids.append(())
        return d

    def _fill(self, d: int, item: ContentItem) -> list[str]:
        """Set slot `d`'s per-document data and postings; return words new to the index."""
        toks = tuple(sys.intern(t) for t in normalize(item.title))
        self._items[d] = item
        self._slot[item.id] = d
        self._toks[d] = toks
        self._texts[d] = " " + " ".join(toks) + " "
        self._ids[d] = item.id
        self._total_len += len(toks)
        new_words = []
        postings = self._postings
        for w in set(toks):
            s = postings.get(w)
            if s is None:
                postings[w] = {d}
                new_words.append(w)
            else:
                s.add(d)
        starts, repeats, core = _walk_classes(toks)
        for w in starts:
            self._starts.setdefault(w, set()).add(d)
        for w in repeats:
            self._repeats.setdefault(w, set()).add(d)
        self._exact[core] = self._exact.get(core, ()) + (d,)
        self._pop[d] = popularity_score(item.popularity)
        self._year[d] = item.year
        self._rating[d] = item.rating
        self._type[d] = _TYPE_CODE[item.type]
        gids = tuple(dict.fromkeys(self._genres.id_for(g) for g in item.genres))
        pids = tuple(dict.fromkeys(self._platforms.id_for(p) for p in item.platforms))
        self._gids[d], self._pids[d] = gids, pids
        self._gmask[d] = sum(1 << g for g in gids)
        self._pmask[d] = sum(1 << p for p in pids)
        return new_words

    def _index(self, d: int, item: ContentItem) -> None:
        self._invalidate()
        for w in self._fill(d, item):
            bisect.insort(self._vocab, w)
            self.speller.add_word(w)
        bisect.insort(self._order, (-self._pop[d], item.id, d))
        bit = 1 << d
        word_bits = self._word_bits
        for w in set(self._toks[d]):
            if w in word_bits:
                word_bits[w] |= bit
            elif len(self._postings[w]) >= WORD_BITS_FROM:
                word_bits[w] = bits.from_ids(self._postings[w])
        self._static[d] = self._static_of(d)
        dl = min(len(self._toks[d]), _MAX_DL)
        bisect.insort(self._sorder_dl.setdefault(dl, []), (-self._static[d], item.id, d))
        self._dl_bits[dl] = self._dl_bits.get(dl, 0) | bit
        self._alive |= bit
        for g in self._gids[d]:
            self._genres.bits[g] |= bit
        for p in self._pids[d]:
            self._platforms.bits[p] |= bit
        self._t_bits[self._type[d]] |= bit
        self._y_bits[item.year] = self._y_bits.get(item.year, 0) | bit
        b = _bucket(item.rating)
        self._r_bits[b] |= bit
        bisect.insort(self._r_sorted[b], (item.rating, d))
        self._maybe_refreeze()

    def _unindex(self, d: int) -> None:
        self._invalidate()
        item = self._items[d]
        assert item is not None
        toks = self._toks[d]
        self._total_len -= len(toks)
        bit = 1 << d
        word_bits = self._word_bits
        for w in set(toks):
            s = self._postings[w]
            s.discard(d)
            if w in word_bits:
                if len(s) < WORD_BITS_FROM // 2:
                    del word_bits[w]
                else:
                    word_bits[w] ^= bit
            if not s:
                del self._postings[w]
                i = bisect.bisect_left(self._vocab, w)
                del self._vocab[i]
        starts, repeats, core = _walk_classes(toks)
        for table, words in ((self._starts, starts), (self._repeats, repeats)):
            for w in words:
                held = table[w]
                held.discard(d)
                if not held:
                    del table[w]
        same = tuple(x for x in self._exact[core] if x != d)
        if same:
            self._exact[core] = same
        else:
            del self._exact[core]
        key = (-self._pop[d], item.id, d)
        i = bisect.bisect_left(self._order, key)
        del self._order[i]
        key = (-self._static[d], item.id, d)
        dl = min(len(toks), _MAX_DL)
        order = self._sorder_dl[dl]
        del order[bisect.bisect_left(order, key)]
        self._dl_bits[dl] ^= bit
        self._alive ^= bit
        for g in self._gids[d]:
            self._genres.bits[g] ^= bit
        for p in self._pids[d]:
            self._platforms.bits[p] ^= bit
        self._t_bits[self._type[d]] ^= bit
        y = self._y_bits[item.year] ^ bit
        if y:
            self._y_bits[item.year] = y
        else:
            del self._y_bits[item.year]
        b = _bucket(item.rating)
        self._r_bits[b] ^= bit
        rs = self._r_sorted[b]
        del rs[bisect.bisect_left(rs, (item.rating, d))]
        del self._slot[item.id]
        self._items[d] = None
        self._toks[d] = ()
        self._texts[d] = self._ids[d] = ""
        self._gids[d] = self._pids[d] = ()
        self._gmask[d] = self._pmask[d] = 0
        self._maybe_refreeze()  # last: a re-freeze walks the live slots

    def _static_of(self, d: int) -> float:
        """The score of slot d for a one-word query it holds once, not first (the
        arithmetic is the one `_scorer` does, so both give the same float)."""
        dl = len(self._toks[d])
        s = 1 / (1 + self._kdl[dl if dl < _MAX_DL else _MAX_DL]) + ALL_TERMS_BONUS
        return round(s + self._pop[d], 6)

    def refresh_statistics(self) -> None:
        """Recompute the corpus statistics scores use (mean title length) now. Writes
        refresh them when they drift by more than AVGDL_DRIFT; until then scores stay
        comparable across pages."""
        self._invalidate()
        self._refreeze()

    def _maybe_refreeze(self) -> None:
        n = len(self._slot)
        if n and abs(self._total_len / n - self._avgdl) > AVGDL_DRIFT * self._avgdl:
            self._refreeze()

    def _refreeze(self) -> None:
        n = len(self._slot)
        self._avgdl = (self._total_len / n if n else 0.0) or 1.0
        self._kdl = _length_factors(self._avgdl)
        items, static, toks = self._items, self._static, self._toks
        orders: dict[int, list[tuple[float, str, int]]] = {}
        for d, it in enumerate(items):
            if it is not None:
                static[d] = v = self._static_of(d)
                orders.setdefault(min(len(toks[d]), _MAX_DL), []).append((-v, it.id, d))
        for order in orders.values():
            order.sort()
        self._sorder_dl = orders
        self._dl_bits = {dl: bits.from_ids([e[2] for e in order]) for dl, order in orders.items()}

    # -- corrections ------------------------------------------------------------------

    def add_correction(self, misspelled: str, corrected: str) -> None:
        """Learn a correction (normalised; one or several words each side). It wins over
        computed ones and is applied wherever the misspelled words occur in a query."""
        wrong, right = tuple(normalize(misspelled)), tuple(normalize(corrected))
        if not wrong:
            raise InvalidParams("misspelled", "must contain a word")
        if not right:
            raise InvalidParams("corrected", "must contain a word")
        try:
            self.speller.learn(wrong, right)
        except ValueError as e:
            raise InvalidParams("misspelled", str(e)) from None
        self._invalidate()

    def correct(self, text: str, *, prefix_last: bool = False) -> str | None:
        """The corrected normalised query, or None when no word needs (or finds) a fix.

        With `prefix_last` a last word that starts some vocabulary word is left alone
        (it is being typed)."""
        fixed = self._correct_tokens(normalize(text)[:MAX_QUERY_TOKENS], prefix_last)
        return None if fixed is None else " ".join(fixed)

    def _correct_tokens(self, tokens: list[str], prefix_last: bool) -> list[str] | None:
        postings = self._postings

        def known(word: str, last: bool) -> bool:
            return word in postings or (prefix_last and last and self._has_prefix(word))

        return self.speller.correct_tokens(tokens, known)

    def _has_prefix(self, prefix: str) -> bool:
        i = bisect.bisect_left(self._vocab, prefix)
        return i < len(self._vocab) and self._vocab[i].startswith(prefix)

    def _completions(self, prefix: str, cap: int) -> list[str]:
        """Vocabulary words starting with `prefix`; the `cap` most frequent if more."""
        vocab = self._vocab
        lo = bisect.bisect_left(vocab, prefix)
        hi = bisect.bisect_left(vocab, prefix + _TOP, lo)
        if hi - lo <= cap:
            return vocab[lo:hi]
        return heapq.nlargest(cap, vocab[lo:hi], key=self.frequency)

    # -- query ------------------------------------------------------------------------

    def query(
        self,
        text: str,
        filters: dict[str, Any] | Filters | None = None,
        *,
        offset: int = 0,
        limit: int = 20,
        include_facets: bool = False,
        after: tuple[float, str] | None = None,
    ) -> QueryResult:
        """One page of hits for `text` under `filters`, best first (score desc, id).

        Page by `offset`/`limit`, or by keyset: `after` = the (score, id) of the last
        item seen (`QueryResult.next_after`); with `after`, `offset` is ignored. An
        empty text matches every item (ranked by popularity). Facets count over all
        hits, not the page; `total` counts all hits. Raises InvalidParams for bad
        filters.
        """
        f = parse_filters(filters)
        if offset < 0 or limit < 0:
            raise ValueError("offset and limit must be >= 0")
        tokens = normalize(text)[:MAX_QUERY_TOKENS]
        if not tokens:
            return self._browse(f, offset, limit, include_facets, after)
        prefix_last = ends_inside_word(text)
        key = (tuple(tokens), prefix_last, f, include_facets)
        full = self._cache.get(key)
        if full is not None:
            self._cache.move_to_end(key)
        else:
            want = limit + 1 if after is not None else offset + limit
            full = self._search(tokens, prefix_last, f, include_facets, want, after)
            if not full.partial and len(full.scored) >= self.cache_from and self.cache_entries:
                full.scored.sort()
                full = attrs.evolve(full, ordered=True)
                self._cache_put(key, full)
        return self._page(full, offset, limit, after)

    def _cache_put(self, key: tuple[Any, ...], full: _Full) -> None:
        self._cache[key] = full
        self._cached_hits += len(full.scored)
        while self._cache and (len(self._cache) > self.cache_entries or self._cached_hits > CACHE_MAX_HITS):
            _, old = self._cache.popitem(last=False)
            self._cached_hits -= len(old.scored)

    def _invalidate(self) -> None:
        if self._cache:
            self._cache.clear()
            self._cached_hits = 0

    def _search(
        self,
        tokens: list[str],
        prefix_last: bool,
        f: Filters,
        include_facets: bool,
        want: int,
        after: tuple[float, str] | None,
    ) -> _Full:
        plan = self._plan(tokens, prefix_last)
        full = self._run(plan, f, include_facets, want, after)
        if full.total == 0 or plan.unmatched:
            fixed = self._correct_tokens(tokens, prefix_last)
            if fixed:
                plan2 = self._plan(fixed[:MAX_QUERY_TOKENS], prefix_last)
                # Cheap pre-check: the corrected words must select more before scoring.
                if len(plan2.candidates) > full.total:
                    second = self._run(plan2, f, include_facets, want, after)
                    if second.total > full.total:
                        return attrs.evolve(second, corrected=" ".join(fixed))
        return full

    def _plan(self, tokens: list[str], prefix_last: bool) -> _Plan:
        postings = self._postings
        last = len(tokens) - 1
        term_docs: list[Any] = []
        terms: list[tuple[str | None, str | None]] = []
        for i, t in enumerate(tokens):
            exact = t if t in postings else None
            words = [t] if exact else []
            prefix = None
            if prefix_last and i == last and len(t) >= PREFIX_MIN:
                completions = [w for w in self._completions(t, PREFIX_EXPANSIONS) if w != t]
                if completions:
                    prefix = " " + t
                    words.extend(completions)
            terms.append((exact, prefix))
            if not words:
                term_docs.append(())
            elif len(words) == 1:
                term_docs.append(postings[words[0]])
            else:
                term_docs.append(set().union(*(postings[w] for w in words)))
        unmatched = any(not s for s in term_docs)
        required = [i for i, t in enumerate(tokens) if t not in STOPWORDS] or list(range(len(tokens)))
        sets = sorted((term_docs[i] for i in required), key=len)
        hits_word = None
        if not sets[0]:
            candidates: Any = ()
        elif len(sets) == 1:
            candidates = sets[0]
            (i,) = required
            if terms[i][1] is None:
                hits_word = terms[i][0]
        else:
            candidates = sets[0].intersection(*sets[1:])
        n = max(1, len(self._slot))
        idf = [math.log(1 + (n - len(s) + 0.5) / (len(s) + 0.5)) for s in term_docs]
        total_idf = sum(idf) or 1.0
        return _Plan(
            tokens=tuple(tokens),
            prefix_last=prefix_last,
            terms=tuple((w, p, x / total_idf) for (w, p), x in zip(terms, idf)),
            candidates=candidates,
            unmatched=unmatched,
            hits_word=hits_word,
            single=hits_word if len(tokens) == 1 else None,
        )

    def _run(
        self, plan: _Plan, f: Filters, include_facets: bool, want: int, after: tuple[float, str] | None
    ) -> _Full:
        """Filter, count and score a plan's hits. `want` and `after` tell how much of
        the order a page needs: a one-word query with many hits answers just that
        (a `partial` result) instead of scoring every hit."""
        hits = plan.candidates
        if len(hits) > self.bitset_from:
            hit_bits = self._word_bits.get(plan.hits_word) if plan.hits_word else None
            if hit_bits is None:
                hit_bits = bits.from_ids(hits)
            final_bits, facets = self._filter_bits(hit_bits, f, include_facets)
            total = final_bits.bit_count()
            if total > self.static_from:
                top = self._top_walk(plan, final_bits, want, after)
                return _Full(scored=top, total=total, facets=facets, partial=True)
            if total == len(hits):
                final: Any = hits
            elif total <= len(hits) // 4:
                final = bits.to_ids(final_bits)
            else:
                mem = bits.membership(final_bits, len(self._items))
                final = [d for d in hits if mem[d >> 3] >> (d & 7) & 1]
        else:
            final, facets = self._filter_lists(hits, f, include_facets)
            total = len(final)
        return _Full(scored=list(map(self._scorer(plan), final)), total=total, facets=facets)

    def _top_walk(
        self, plan: _Plan, final_bits: int, want: int, after: tuple[float, str] | None
    ) -> list[tuple[float, str, int]]:
        """The best `want` keys (after `after`) of a query with many hits, without
        scoring every hit.

        A title's static value is its score for a one-word query it holds once, not
        first (`_static_of`). A title holding each query word at most once (stopwords
        count once) that is not an exact match scores at most its static value plus
        the phrase and start bonuses: its text part is at most the one-word part, since
        the words' weights sum to 1. So, walking titles by static value, nothing
        further can enter the best `want` once the current static value plus those
        bonuses falls below the `want`-th best key found. The other titles (a query
        word twice, exact matches, and the titles that may start with the query when
        they are few, which drops the start bonus from the bound) are scored apart
        first. For a one-word query, a walked title that does not start with the word
        scores exactly its static value, so only those starting with it are scored.

        Titles are walked per title length (within one length, static order is
        popularity order): lengths holding no hit are skipped, and where hits turn out
        sparse the walk stops and takes the rest of them directly, so the many short
        popular titles a query does not match are not walked through.
        """
        q = plan.tokens
        core = strip_article(q)
        single = plan.single
        apart = set(self._exact.get(" ".join(core), ()))
        for w, _, _ in plan.terms:
            if w is not None and w in self._repeats:
                apart |= self._repeats[w]
        if single is not None:
            starting: set[int] | None = self._starts.get(single, set())
        else:
            starting = self._may_start(q, core, plan.terms[-1][1] is not None)
        if starting is not None and len(starting) <= self.apart_max:
            apart |= starting
            starting, slack = set(), 0.0
        else:
            slack = START_BONUS
        if len(q) > 1:
            slack += PHRASE_BONUS
        slack += 2e-6  # scores are rounded to 1e-6
        score = self._scorer(plan)
        if single is None:
            starting = None  # every walked title is scored
        akey = (-after[0], after[1], math.inf) if after is not None else None
        mem = bits.membership(final_bits, len(self._items))
        top = sorted(
            k for k in map(score, [d for d in apart if mem[d >> 3] >> (d & 7) & 1]) if akey is None or k > akey
        )[:want]
        # A walk stops at an entry whose key exceeds `thr` (= its static value plus the
        # bonuses still possible falls below the want-th best score).
        thr = top[want - 1][0] + slack if len(top) >= want else math.inf

        def offer(e: tuple[float, str, int]) -> float:
            if akey is None or e > akey:
                if len(top) < want:
                    bisect.insort(top, e)
                elif e < top[-1]:
                    bisect.insort(top, e)
                    top.pop()
                else:
                    return thr
                if len(top) >= want:
                    return top[want - 1][0] + slack
            return thr

        groups = []
        for dl, order in self._sorder_dl.items():
            sub = final_bits & self._dl_bits[dl]
            if order and sub:
                groups.append((order[0][0], dl, order, sub))
        groups.sort()
        static, ids = self._static, self._ids
        for first, _, order, sub in groups:
            if first > thr:
                break  # the best title of this length, and of all later ones, cannot enter
            # With `after`, a one-word query may skip the titles whose static value
            # is above the cursor's score: they score at least that much, so they
            # were on earlier pages. Other queries may score below static values.
            i = 0
            if after is not None and single is not None:
                i = bisect.bisect_left(order, (-(after[0] + 2e-6),))
            # Walk while it pays; past 4 entries per hit of this length the hits are
            # sparse here: take the rest of them directly.
            stop = min(len(order), i + 4 * sub.bit_count() + self.walk_extra)
            while i < stop:
                e = order[i]
                if e[0] > thr:
                    break
                i += 1
                d = e[2]
                if mem[d >> 3] >> (d & 7) & 1 and d not in apart:
                    thr = offer(e if starting is not None and d not in starting else score(d))
            else:
                if i < len(order):
                    rest = sorted((-static[d], ids[d], d) for d in bits.to_ids(sub))
                    for e in rest[bisect.bisect_left(rest, order[i]) :]:
                        if e[0] > thr:
                            break
                        d = e[2]
                        if d not in apart:
                            thr = offer(e if starting is not None and d not in starting else score(d))
        return top

    def _may_start(self, q: tuple[str, ...], core: tuple[str, ...], prefix: bool) -> set[int] | None:
        """Titles that may earn the start bonus for query words `q` (None: too many to
        tell). They start with q's first word or core's, or, when that word is the
        last and a prefix, with a word it begins."""
        out: set[int] = set()
        for seq in {q, core}:
            if not seq:
                continue
            if prefix and len(seq) == 1:
                words = self._completions(seq[0], self.apart_max)
                if len(words) >= self.apart_max:
                    return None
            else:
                words = [seq[0]]
            for w in words:
                held = self._starts.get(w)
                if held:
                    out |= held
                    if len(out) > self.apart_max:
                        return None
        return out

    def _page(self, full: _Full, offset: int, limit: int, after: tuple[float, str] | None) -> QueryResult:
        scored = full.scored
        if full.partial:
            # Already the page's part of the order (after `after`, or from the top).
            if after is not None:
                page = scored[:limit]
                more = len(scored) > limit
            else:
                page = scored[offset : offset + limit]
                more = offset + limit < full.total
        elif full.ordered:
            if after is not None:
                start = bisect.bisect_right(scored, (-after[0], after[1], math.inf))
            else:
                start = offset
            page = scored[start : start + limit]
            more = start + limit < len(scored)
        elif after is not None:
            neg, aid = -after[0], after[1]
            rest = [e for e in scored if e[0] > neg or (e[0] == neg and e[1] > aid)]
            page = heapq.nsmallest(limit + 1, rest)
            more = len(page) > limit
            page = page[:limit]
        else:
            page = heapq.nsmallest(offset + limit, scored)[offset:]
            more = offset + limit < full.total
        items = self._items
        return QueryResult(
            items=[items[e[2]] for e in page],  # type: ignore[misc]
            total=full.total,
            corrected_query=full.corrected,
            facets=full.facets,
            scores=[-e[0] for e in page],
            next_after=(-page[-1][0], page[-1][1]) if more and page else None,
        )

    def _scorer(self, plan: _Plan) -> Callable[[int], tuple[float, str, int]]:
        """slot -> (-score, id, slot) for `plan`; see the module docstring for the formula.

        Word counts run on the title's tokens (tuple.count) and phrase tests on its
        " word word " string (substring search), both in C. A stopword counts once."""
        toks_of, texts, pop, ids, kdl = self._toks, self._texts, self._pop, self._ids, self._kdl
        q = plan.tokens
        core = strip_article(q)
        exact_titles = self._exact.get(" ".join(core), ())
        if plan.single is not None:
            w = plan.single
            once = w in STOPWORDS

            def score_one(d: int) -> tuple[float, str, int]:
                toks = toks_of[d]
                dl = len(toks)
                tf = 1 if once else toks.count(w)
                s = tf / (tf + kdl[dl if dl < _MAX_DL else _MAX_DL]) + ALL_TERMS_BONUS
                if toks[0] == w or (dl > 1 and toks[1] == w and toks[0] in ARTICLES):
                    s += START_BONUS
                    if d in exact_titles:
                        s += EXACT_BONUS
                return (-round(s + pop[d], 6), ids[d], d)

            return score_one
        several = len(q) > 1
        tail = "" if plan.terms[-1][1] is not None else " "  # the last word as a prefix?
        phrase = " " + " ".join(q) + tail  # the query as a run of title words
        core_phrase = " " + " ".join(core) + tail
        terms = tuple((w, prefix, weight, w in STOPWORDS) for w, prefix, weight in plan.terms)

        def score(d: int) -> tuple[float, str, int]:
            toks = toks_of[d]
            text = texts[d]
            dl = len(toks)
            k = kdl[dl if dl < _MAX_DL else _MAX_DL]
            s = 0.0
            every = True
            for w, prefix, weight, once in terms:
                if w is None:
                    exact = 0
                elif once:
                    exact = 1 if w in toks else 0
                else:
                    exact = toks.count(w)
                if not exact and prefix is not None and prefix in text:
                    tf = PREFIX_WEIGHT  # a completion counts once, at a discount
                else:
                    tf = exact
                if tf:
                    s += weight * tf / (tf + k)
                else:
                    every = False
            if every:
                s += ALL_TERMS_BONUS
                if several and phrase in text:
                    s += PHRASE_BONUS
                if (
                    text.startswith(phrase)
                    or text.startswith(core_phrase)
                    or (toks[0] in ARTICLES and text.startswith(core_phrase, len(toks[0]) + 1))
                ):
                    s += START_BONUS
                    if d in exact_titles:
                        s += EXACT_BONUS
            return (-round(s + pop[d], 6), ids[d], d)

        return score

    # -- filters and facets -----------------------------------------------------------

    def _filter_lists(self, hits: Any, f: Filters, include_facets: bool) -> tuple[Any, dict[str, Any] | None]:
        """Filter a small hit set slot by slot; facets counted disjunctively."""
        base = hits
        if f.types:
            codes = {_TYPE_CODE[t] for t in f.types}
            tp = self._type
            base = [d for d in base if tp[d] in codes]
        if f.year_min is not None or f.year_max is not None:
            lo = f.year_min if f.year_min is not None else -(10**9)
            hi = f.year_max if f.year_max is not None else 10**9
            yr = self._year
            base = [d for d in base if lo <= yr[d] <= hi]
        if f.rating_min is not None or f.rating_max is not None:
            rlo = f.rating_min if f.rating_min is not None else -math.inf
            rhi = f.rating_max if f.rating_max is not None else math.inf
            rt = self._rating
            base = [d for d in base if rlo <= rt[d] <= rhi]
        g_ok = p_ok = base
        if f.genres:
            gm, gmask = self._genres.mask_of(f.genres), self._gmask
            g_ok = [d for d in base if gmask[d] & gm]
        if f.platforms:
            pm, pmask = self._platforms.mask_of(f.platforms), self._pmask
            p_ok = [d for d in base if pmask[d] & pm]
            final = [d for d in g_ok if pmask[d] & pm]
        else:
            final = g_ok
        if not include_facets:
            return final, None
        gcount = Counter(chain.from_iterable(map(self._gids.__getitem__, p_ok)))
        pcount = Counter(chain.from_iterable(map(self._pids.__getitem__, g_ok)))
        facets = self._facets(gcount, pcount)
        if final:
            yr, rt = self._year, self._rating
            facets["year_range"] = {"min": min(map(yr.__getitem__, final)), "max": max(map(yr.__getitem__, final))}
            facets["rating_range"] = {"min": min(map(rt.__getitem__, final)), "max": max(map(rt.__getitem__, final))}
        return final, facets

    def _facets(self, gcount: dict[int, int], pcount: dict[int, int]) -> dict[str, Any]:
        def top(counts: dict[int, int], names: list[str]) -> list[dict[str, Any]]:
            pairs = sorted(((-c, names[i]) for i, c in counts.items() if c))[:FACET_VALUES]
            return [{"value": name, "count": -c} for c, name in pairs]

        return {
            "genres": top(gcount, self._genres.names),
            "platforms": top(pcount, self._platforms.names),
            "year_range": None,
            "rating_range": None,
        }

    def _filter_bits(self, hits: int, f: Filters, include_facets: bool) -> tuple[int, dict[str, Any] | None]:
        """Filter a hit bitset; facets counted disjunctively with popcounts."""
        base = hits
        if f.types:
            tb = 0
            for t in f.types:
                tb |= self._t_bits[_TYPE_CODE[t]]
            base &= tb
        if f.year_min is not None or f.year_max is not None:
            lo = f.year_min if f.year_min is not None else -(10**9)
            hi = f.year_max if f.year_max is not None else 10**9
            yb = 0
            for y, b in self._y_bits.items():
                if lo <= y <= hi:
                    yb |= b
            base &= yb
        if f.rating_min is not None or f.rating_max is not None:
            base &= self._rating_bits(f.rating_min, f.rating_max)
        gb = self._genres.bits_of(f.genres) if f.genres else None
        pb = self._platforms.bits_of(f.platforms) if f.platforms else None
        g_ok = base if gb is None else base & gb
        p_ok = base if pb is None else base & pb
        final = g_ok if pb is None else g_ok & pb
        if not include_facets:
            return final, None
        gcount = {g: (p_ok & b).bit_count() for g, b in enumerate(self._genres.bits)}
        pcount = {p: (g_ok & b).bit_count() for p, b in enumerate(self._platforms.bits)}
        facets = self._facets(gcount, pcount)
        if final:
            years = sorted(self._y_bits)
            y_bits = self._y_bits
            lo_year = next(y for y in years if y_bits[y] & final)
            hi_year = next(y for y in reversed(years) if y_bits[y] & final)
            facets["year_range"] = {"min": lo_year, "max": hi_year}
            r_bits, r_sorted = self._r_bits, self._r_sorted
            mem = bits.membership(final, len(self._items))
            lo_b = next(b for b in range(_RATING_BUCKETS) if r_bits[b] & final)
            hi_b = next(b for b in reversed(range(_RATING_BUCKETS)) if r_bits[b] & final)
            lo_r = next(r for r, d in r_sorted[lo_b] if mem[d >> 3] >> (d & 7) & 1)
            hi_r = next(r for r, d in reversed(r_sorted[hi_b]) if mem[d >> 3] >> (d & 7) & 1)
            facets["rating_range"] = {"min": lo_r, "max": hi_r}
        return final, facets

    def _rating_bits(self, lo: float | None, hi: float | None) -> int:
        lo = 0.0 if lo is None else lo
        hi = 10.0 if hi is None else hi
        if lo > hi:
            return 0
        blo, bhi = _bucket(lo), _bucket(hi)
        out = 0
        for b in range(blo + 1, bhi):
            out |= self._r_bits[b]
        for b in {blo, bhi}:
            rs = self._r_sorted[b]
            i = bisect.bisect_left(rs, (lo, -1))
            j = bisect.bisect_right(rs, (hi, math.inf))
            if i == 0 and j == len(rs):
                out |= self._r_bits[b]
            elif i < j:
                out |= bits.from_ids([d for _, d in rs[i:j]])
        return out

    # -- empty query: browse by popularity --------------------------------------------

    def _browse(
        self, f: Filters, offset: int, limit: int, include_facets: bool, after: tuple[float, str] | None
    ) -> QueryResult:
        final, facets = self._filter_bits(self._alive, f, include_facets)
        total = final.bit_count()
        order = self._order
        start = 0
        if after is not None:
            start = bisect.bisect_right(order, (-after[0], after[1], math.inf))
            skip = 0
        else:
            skip = offset
        page: list[tuple[float, str, int]] = []
        want = limit + 1
        if final == self._alive:
            page = order[start + skip : start + skip + want]
        elif total * 20 < len(order):
            # Few hits: sort them rather than walk the popularity order looking for them.
            pop, ids = self._pop, self._ids
            entries = [(-pop[d], ids[d], d) for d in bits.to_ids(final)]
            if after is not None:
                key = (-after[0], after[1], math.inf)
                entries = [e for e in entries if e > key]
            page = heapq.nsmallest(skip + want, entries)[skip:]
        elif total:
            mem = bits.membership(final, len(self._items))
            for i in range(start, len(order)):
                e = order[i]
                d = e[2]
                if mem[d >> 3] >> (d & 7) & 1:
                    if skip:
                        skip -= 1
                        continue
                    page.append(e)
                    if len(page) == want:
                        break
        more = len(page) > limit
        page = page[:limit]
        items = self._items
        return QueryResult(
            items=[items[e[2]] for e in page],  # type: ignore[misc]
            total=total,
            facets=facets,
            scores=[-e[0] for e in page],
            next_after=(-page[-1][0], page[-1][1]) if more and page else None,
        )

    # -- autocomplete -----------------------------------------------------------------

    def autocomplete(self, q: str, limit: int = 10) -> list[Suggestion]:
        """Title suggestions for what is being typed, most popular first.

        Earlier words must be whole title words (corrected when they are not in the
        vocabulary); the last word, unless `q` ends with a separator, is a prefix.
        Titles whose words start with the prefix as typed come first; when they are
        fewer than `limit` and the prefix has 4+ characters, titles with a word whose
        beginning is one edit (OSA) away from the prefix follow. Empty `q`: the most
        popular titles. `limit` is clamped to 1..50.
        """
        limit = max(1, min(AUTOCOMPLETE_MAX, limit))
        tokens = normalize(q)[:MAX_QUERY_TOKENS]
        if not tokens:
            return [self._suggest(e[2], True) for e in self._order[:limit]]
        prefix = tokens.pop() if ends_inside_word(q) else None
        if tokens:
            tokens = self._correct_tokens(tokens, False) or tokens
        sets = []
        for w in tokens:
            s = self._postings.get(w)
            if s is None:
                return []
            sets.append(s)
        sets.sort(key=len)
        within: Any = None
        if sets:
            within = sets[0] if len(sets) == 1 else sets[0].intersection(*sets[1:])
            if not within:
                return []
        if prefix is None:
            return [self._suggest(d, True) for d in self._popular(within, limit, set())]
        words = self._completions(prefix, 10**9)
        exact = self._popular(within, limit, set(), words=words, test=" " + prefix) if words else []
        out = [self._suggest(d, True) for d in exact]
        if len(out) < limit and len(prefix) >= FUZZY_PREFIX_MIN:
            fuzzy = self._fuzzy_prefix_words(prefix)
            if fuzzy:
                more = self._popular(within, limit - len(out), set(exact), words=fuzzy)
                out.extend(self._suggest(d, False) for d in more)
        return out

    def _pop_key(self, d: int) -> tuple[float, str]:
        return (-self._pop[d], self._ids[d])

    def _suggest(self, d: int, exact: bool) -> Suggestion:
        item = self._items[d]
        assert item is not None
        share = self._pop[d] / POP_WEIGHT * 0.5
        return Suggestion(text=item.title, score=round(share + (0.5 if exact else 0.0), 6), type="title", content_id=item.id)

    def _most_popular(self, cands: Any, limit: int) -> list[int]:
        """The `limit` most popular of `cands`, in (popularity desc, id) order."""
        if len(cands) > limit:
            pop = self._pop
            floor = heapq.nlargest(limit, map(pop.__getitem__, cands))[-1]
            cands = [d for d in cands if pop[d] >= floor]
        return sorted(cands, key=self._pop_key)[:limit]

    def _popular(
        self,
        within: Any,
        limit: int,
        exclude: set[int],
        *,
        words: list[str] | None = None,
        test: str | None = None,
    ) -> list[int]:
        """The `limit` most popular slots in `within` (None: all) holding one of `words`
        (None: any), not in `exclude`. `test`, when given, is " prefix", a substring
        test on the title equivalent to holding one of `words`.

        Three ways, picked by estimated cost: filter `within`; union the words'
        postings; walk the popularity order until enough are found.
        """
        postings, texts, toks = self._postings, self._texts, self._toks
        wordset = None if words is None or test is not None else set(words)

        def matches(d: int) -> bool:
            if d in exclude:
                return False
            if test is not None:
                return test in texts[d]
            return wordset is None or not wordset.isdisjoint(toks[d])

        n = max(1, len(self._slot))
        size = n if words is None else sum(len(postings[w]) for w in words)
        expected = size * (len(within) / n if within is not None else 1.0)
        cost_filter = 0.15 * len(within) if within is not None else math.inf
        cost_union = 0.05 * size if words is not None else math.inf
        # (doubled: the estimate assumes words independent, and a wrong guess costs twice)
        cost_walk = 0.6 * limit * n / max(expected, 0.5)
        if cost_walk < min(cost_filter, cost_union):
            out: list[int] = []
            budget = 1.5 * cost_walk / 0.3 + 100
            for i, (_, _, d) in enumerate(self._order):
                if (within is None or d in within) and matches(d):
                    out.append(d)
                    if len(out) == limit:
                        return out
                if i > budget:
                    break
            else:
                return out
            # Sparser than estimated: fall through to a direct way.
        if cost_filter <= cost_union:
            cands: Any = [d for d in within if matches(d)]
        else:
            assert words is not None
            cands = set().union(*(postings[w] for w in words))
            if within is not None:
                cands &= within
            cands -= exclude
        return self._most_popular(cands, limit)

    def _fuzzy_prefix_words(self, prefix: str) -> list[str]:
        """Vocabulary words whose start is one edit from `prefix` but not `prefix` itself."""
        vocab = self._vocab
        alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
        n = len(prefix)
        variants = set()
        for i in range(n):
            variants.add(prefix[:i] + prefix[i + 1 :])  # deletion
            for c in alphabet:
                variants.add(prefix[:i] + c + prefix[i + 1 :])  # substitution
        for i in range(n - 1):
            variants.add(prefix[:i] + prefix[i + 1] + prefix[i] + prefix[i + 2 :])  # transposition
        for i in range(n + 1):
            for c in alphabet:
                variants.add(prefix[:i] + c + prefix[i:])  # insertion
        variants.discard(prefix)
        found: set[str] = set()
        for v in variants:
            if not v:
                continue
            lo = bisect.bisect_left(vocab, v)
            if lo < len(vocab) and vocab[lo].startswith(v):
                hi = bisect.bisect_left(vocab, v + _TOP, lo)
                found.update(vocab[lo:hi])
        found = {w for w in found if not w.startswith(prefix)}
        if len(found) > FUZZY_PREFIX_WORDS:
            return heapq.nlargest(FUZZY_PREFIX_WORDS, found, key=self.frequency)
        return sorted(found)


def _length_factors(avgdl: float) -> list[float]:
    """BM25's k1 * (1 - b + b * len / avglen) for title lengths 0.._MAX_DL."""
    return [K1 * (1 - B + B * dl / avgdl) for dl in range(_MAX_DL + 1)]


def _walk_classes(toks: tuple[str, ...]) -> tuple[set[str], set[str], str]:
    """What `_top_walk` needs to know of a title: the words it starts with (a leading
    article aside), the words it holds more than once (stopwords aside: they count
    once), and its words without a leading article (the key of an exact match)."""
    if not toks:
        return set(), set(), ""
    starts = {toks[0]}
    if len(toks) > 1 and toks[0] in ARTICLES:
        starts.add(toks[1])
    repeats = set()
    if len(set(toks)) < len(toks):
        repeats = {w for w in toks if w not in STOPWORDS and toks.count(w) > 1}
    return starts, repeats, " ".join(strip_article(toks))
