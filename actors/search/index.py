"""The search index's front: what the search actor calls. Pure and synchronous.

It ties the parts together: `documents` (slots and bitsets), `typos` (the vocabulary
and its typo machine), `readings` (learned corrections and synonyms), `ranking` (the
rules and the walk), `facets`, `explain` (highlights and corrections), `autocomplete`
and `listing` (content.list from memory), and keeps caches of evaluated queries and
answered pages that every write drops.

A query is evaluated with the typo rule `typos.BASE`; when that finds fewer than
`WIDEN_BELOW` titles it is evaluated again with `typos.WIDE` (one more typo per word),
whose answers rank after the first pass's.
"""

from __future__ import annotations

import gc
import itertools
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from operator import attrgetter
from typing import TYPE_CHECKING, Any

import attrs

from actors.catalog.model import ContentItem
from actors.errors import InvalidParams
from actors.search import explain, ranking
from actors.search import facets as facets_
from actors.search.documents import LATE_MIN, Documents
from actors.search.filters import Filters, parse_filters
from actors.search.listing import Orders
from actors.search.readings import SYNONYM_WORDS_MAX, Reading, Rewrites, SynonymGroup
from actors.search.text import ends_inside_word, normalize
from actors.search.typos import BASE, WIDE, TypoRule, Vocabulary

MAX_QUERY_TOKENS = 10  # words of a query that count; the rest are ignored
WIDEN_BELOW = 3
CACHE_ENTRIES = 64  # evaluated queries (their bitsets: up to 125 kB each at a million titles)
RESULTS_CACHED = 2048  # answered pages (items are shared with the index: a few kB each)
WIDE_PENALTY = ranking.WORD_POINTS * (MAX_QUERY_TOKENS + 1)  # a widened pass ranks below every first-pass class
CACHE_FROM = 500  # evaluated queries with this many hits are kept until a write

_VERSIONS = itertools.count(1)

if TYPE_CHECKING:
    from actors.search.autocomplete import Suggestion, Suggestions



@attrs.frozen
class QueryResult:
    """One page of hits.

    `scores`, `highlights` and `typos` (how many each item was matched with) run
    parallel to `items`; `next_after` is the (score, id) keyset key of the last item
    when more hits follow it (None on the last page): pass it back as `after`. `corrections` lists what the top hit's reading changed,
    [{from, to}], and `corrected_query` is that reading (None when nothing changed).
    `facets` is {genres: [{value, count}], platforms: [...], year_range: {min, max} |
    None, rating_range: {min, max} | None} when asked for, else None. A highlight is
    {start, end}: a range of the title, in code points, end exclusive.
    """

    items: list[ContentItem]
    total: int
    corrected_query: str | None = None
    facets: dict[str, Any] | None = None
    scores: list[float] = attrs.field(factory=list)
    next_after: tuple[float, str] | None = None
    corrections: list[dict[str, str]] = attrs.field(factory=list)
    highlights: list[list[explain.Highlight]] = attrs.field(factory=list)
    typos: list[int] = attrs.field(factory=list)


@attrs.frozen
class _Evaluated:
    """A query resolved and its hits sorted into classes: what pages are cut from."""

    plans: tuple[ranking.Plan, ...]
    classes: tuple[tuple[int, int, int], ...]  # (class value, bitset, its count), best first, filtered
    total: int
    facets: dict[str, Any] | None


class SearchIndex:
    """See the module docstring. Not thread-safe; one owner calls it."""

    widen_below = WIDEN_BELOW
    relayout_least = LATE_MIN  # tests lower or raise these to force each path
    score_all_below = ranking.SCORE_ALL_BELOW
    count_titles_below: int | None = None  # facets' default
    facet_arrays_max: int | None = None  # facets' default

    def __init__(self, items: Iterable[ContentItem] = (), *, cache_entries: int = CACHE_ENTRIES) -> None:
        self.cache_entries = cache_entries
        self._cache: OrderedDict[tuple[Any, ...], _Evaluated] = OrderedDict()
        self._results: OrderedDict[tuple[Any, ...], QueryResult] = OrderedDict()
        self.rewrites = Rewrites()
        self.docs = Documents()
        self.vocab = Vocabulary(self.docs.postings)
        self.orders = Orders()
        self.version = next(_VERSIONS)
        """Changes with every write (content, corrections, synonyms): answers read from
        the index stay right while it is the same. Unique in the process."""
        if items:
            self.build(items)

    # -- reads ------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.docs)

    def __contains__(self, content_id: object) -> bool:
        return content_id in self.docs.slot_of

    def get(self, content_id: str) -> ContentItem | None:
        d = self.docs.slot_of.get(content_id)
        return None if d is None else self.docs.items[d]

    def frequency(self, word: str) -> int:
        return self.docs.frequency(word)

    @property
    def vocabulary_size(self) -> int:
        return len(self.vocab)

    # -- writes -----------------------------------------------------------------------

    def build(self, items: Iterable[ContentItem]) -> None:
        """Replace the whole content with `items` (a later duplicate id wins). Learned
        corrections and synonyms are kept.

        The cyclic collector is paused meanwhile: the build allocates millions of
        long-lived objects. A long-running owner should `gc.freeze()` afterwards."""
        collecting = gc.isenabled()
        gc.disable()
        try:
            unique: dict[str, ContentItem] = {}
            for item in items:
                unique[item.id] = item
            by_id = sorted(unique.values(), key=attrgetter("id"))  # both find them in order
            self.docs = Documents(by_id)
            self.vocab.postings = self.docs.postings
            self.vocab.build(self.docs.postings)
            self.orders = Orders(by_id)
        finally:
            if collecting:
                gc.enable()
        self._invalidate()

    def upsert(self, item: ContentItem) -> None:
        """Add or replace one item; costs about its own size, not the catalog's (but
        for an occasional re-layout, see `documents`)."""
        old = self.get(item.id)
        if old == item:
            return
        new, gone = self.docs.upsert(item)
        self._words_changed(new, gone)
        if old is not None:
            self.orders.discard(old)
        self.orders.add(item)
        self._invalidate()
        if self.docs.relayout_due(self.relayout_least):
            self._relayout()

    def remove(self, content_id: str) -> bool:
        """Drop an item; False if it was not there."""
        old = self.get(content_id)
        if old is None:
            return False
        gone = self.docs.remove(content_id) or []
        self._words_changed([], gone)
        self.orders.discard(old)
        self._invalidate()
        if self.docs.relayout_due(self.relayout_least):
            self._relayout()
        return True

    def _words_changed(self, new: list[str], gone: list[str]) -> None:
        for w in new:
            self.vocab.add(w)
        for w in gone:
            self.vocab.discard(w)

    def _relayout(self) -> None:
        self.docs = Documents(self.docs.live_items())
        self.vocab.postings = self.docs.postings

    def add_correction(self, misspelled: str, corrected: str) -> None:
        """Learn a correction (normalised; one or several words each side). It wins over
        computed ones and is applied wherever the misspelled words occur in a query."""
        wrong, right = tuple(normalize(misspelled)), tuple(normalize(corrected))
        if not wrong:
            raise InvalidParams("misspelled", "must contain a word")
        if not right:
            raise InvalidParams("corrected", "must contain a word")
        try:
            self.rewrites.learn(wrong, right)
        except ValueError as e:
            raise InvalidParams("misspelled", str(e)) from None
        self._invalidate()

    def set_synonyms(self, groups: Sequence[tuple[Sequence[str], bool]]) -> None:
        """Replace the synonym groups: (phrases, one_way) each; see `readings`. Raises
        InvalidParams naming a phrase without a word or with too many."""
        checked = []
        for i, (phrases, one_way) in enumerate(groups):
            normal = []
            for j, phrase in enumerate(phrases):
                words = tuple(normalize(phrase))
                if not words or len(words) > SYNONYM_WORDS_MAX:
                    raise InvalidParams(f"synonyms[{i}].words[{j}]", f"must hold 1..{SYNONYM_WORDS_MAX} words")
                normal.append(words)
            checked.append(SynonymGroup(tuple(normal), one_way))
        self.rewrites.set_synonyms(checked)
        self._invalidate()

    def _invalidate(self) -> None:
        self._cache.clear()
        self._results.clear()
        self.version = next(_VERSIONS)

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
        """One page of hits for `text` under `filters`, best first (see `ranking`).

        Page by `offset`/`limit`, or by keyset: `after` = the (score, id) of the last
        item seen (`QueryResult.next_after`); with `after`, `offset` is ignored. An
        empty text matches every item, most popular first. Facets count over all hits,
        not the page; `total` counts all hits. Raises InvalidParams for bad filters."""
        f = parse_filters(filters)
        if offset < 0 or limit < 0:
            raise ValueError("offset and limit must be >= 0")
        tokens = tuple(normalize(text)[:MAX_QUERY_TOKENS])
        typing = ends_inside_word(text)
        # Search traffic repeats itself: a page asked for again is answered as it was
        # (until a write drops every cached answer).
        rkey = (tokens, typing, f, include_facets, offset if after is None else -1, limit, after)
        cached = self._results.get(rkey)
        if cached is not None:
            self._results.move_to_end(rkey)
            return cached
        result = self._answer(tokens, typing, f, include_facets, offset, limit, after)
        if self.cache_entries:
            self._results[rkey] = result
            if len(self._results) > RESULTS_CACHED:
                self._results.popitem(last=False)
        return result

    def _answer(
        self,
        tokens: tuple[str, ...],
        typing: bool,
        f: Filters,
        include_facets: bool,
        offset: int,
        limit: int,
        after: tuple[float, str] | None,
    ) -> QueryResult:
        ev = self._evaluate(tokens, typing, f, include_facets)
        akey = None if after is None else (-float(after[0]), str(after[1]), 1 << 62)
        keys, more = self._page(ev, offset, limit, akey)
        docs = self.docs
        items = [docs.items[k[2]] for k in keys]
        result_items: list[ContentItem] = items  # type: ignore[assignment]
        corrections: list[dict[str, str]] = []
        corrected = None
        highlights: list[list[explain.Highlight]] = []
        typos = [0] * len(keys)
        if ev.plans:
            explained = [ranking.explain(docs, ev.plans, k[2]) for k in keys]
            highlights = [explain.highlights(it.title, p, m) for it, (p, m) in zip(result_items, explained)]
            typos = [sum(x.typos for x in m if x is not None) for _, m in explained]
            if explained:
                corrected, corrections = explain.corrections(*explained[0])
        else:
            highlights = [[] for _ in keys]
        return QueryResult(
            items=result_items,
            total=ev.total,
            corrected_query=corrected,
            facets=ev.facets,
            scores=[-k[0] for k in keys],
            next_after=(-keys[-1][0], keys[-1][1]) if more and keys else None,
            corrections=corrections,
            highlights=highlights,
            typos=typos,
        )

    def readings(self, tokens: Sequence[str], typing: bool) -> list[Reading]:
        return self.rewrites.readings(tokens, typing)

    def _evaluate(self, tokens: tuple[str, ...], typing: bool, f: Filters, include_facets: bool) -> _Evaluated:
        key = (tokens, typing, f, include_facets)
        hit = self._cache.get(key)
        if hit is not None:
            self._cache.move_to_end(key)
            return hit
        docs = self.docs
        if not tokens:
            final, fac = facets_.apply(docs, docs.alive, f, include_facets, self.count_titles_below, self.facet_arrays_max)
            n = final.bit_count()
            ev = _Evaluated((), ((0, final, n),) if final else (), n, fac)
        else:
            readings = self.rewrites.readings(tokens, typing)
            ev = self._resolve(readings, BASE, 0, f, include_facets)
            if ev.total < self.widen_below:
                wide = self._resolve(readings, WIDE, WIDE_PENALTY, f, include_facets)
                if wide.total > ev.total:
                    ev = _widened(ev, wide)
        if ev.total >= CACHE_FROM and self.cache_entries:
            self._cache[key] = ev
            while len(self._cache) > self.cache_entries:
                self._cache.popitem(last=False)
        return ev

    def _resolve(
        self, readings: list[Reading], rule: TypoRule, penalty: int, f: Filters, include_facets: bool
    ) -> _Evaluated:
        docs = self.docs
        plans = tuple(ranking.plan(docs, self.vocab, r, rule, penalty) for r in readings)
        cls = ranking.classes(docs.alive, plans)
        hits = 0
        for _, b in cls:
            hits |= b
        final, fac = facets_.apply(docs, hits, f, include_facets, self.count_titles_below, self.facet_arrays_max)
        kept = []
        for v, b in cls:
            x = b & final
            if x:
                kept.append((v, x, x.bit_count()))
        return _Evaluated(plans, tuple(kept), sum(k[2] for k in kept), fac)

    def _page(self, ev: _Evaluated, offset: int, limit: int, akey: ranking.Key | None) -> tuple[list[ranking.Key], bool]:
        """The page's keys and whether more hits follow."""
        docs = self.docs
        if ev.plans:
            score = ranking.scorer(docs, ev.plans)
            slack = ranking.MAX_CLOSENESS
        else:
            pop, items = docs.pop, docs.items

            def score(d: int) -> ranking.Key:
                return (-round(pop[d], 6), items[d].id, d)  # type: ignore[union-attr]

            slack = 0.0
        out: list[ranking.Key] = []
        if akey is not None:
            want = limit + 1
            after_class = _class_of(-akey[0])
            for v, b, n in ev.classes:
                if v > after_class:
                    continue
                out += ranking.top(docs, b, v, slack, want - len(out), score, akey if v == after_class else None,
                                   score_all_below=self.score_all_below, count=n)
                if len(out) >= want:
                    break
            return out[:limit], len(out) > limit
        skip, want = offset, limit
        for v, b, n in ev.classes:
            if skip >= n:
                skip -= n
                continue
            got = ranking.top(docs, b, v, slack, skip + want - len(out), score,
                              score_all_below=self.score_all_below, count=n)
            out += got[skip:]
            skip = 0
            if len(out) >= want:
                break
        return out[:limit], offset + limit < ev.total

    def correct(self, text: str, *, prefix_last: bool = False) -> str | None:
        """The corrected normalised query (the top hit's reading), or None when the
        query needs (or finds) no correction."""
        tokens = normalize(text)[:MAX_QUERY_TOKENS]
        if not tokens:
            return None
        return self.query(" ".join(tokens) + ("" if prefix_last else " "), limit=1).corrected_query

    # -- autocomplete -----------------------------------------------------------------

    def autocomplete(self, q: str, limit: int = 10) -> list[Suggestion]:
        """Title suggestions for what is being typed; see `autocomplete`."""
        return self.suggestions(q, limit).items

    def suggestions(self, q: str, limit: int = 10) -> Suggestions:
        """The whole autocomplete answer: suggestions and corrections."""
        from actors.search.autocomplete import suggest  # it calls back into `query`

        return suggest(self, q, limit)


def _class_of(score: float) -> int:
    """The class value of a score: the multiple of TYPO_POINTS at or below it (the
    rest, closeness plus popularity, is below TYPO_POINTS)."""
    return int(score // ranking.TYPO_POINTS) * ranking.TYPO_POINTS


def _widened(first: _Evaluated, wide: _Evaluated) -> _Evaluated:
    """The widened pass's hits ranked after the first pass's (both already filtered)."""
    seen = 0
    for _, b, _ in first.classes:
        seen |= b
    extra = []
    for v, b, _ in wide.classes:
        x = b & ~seen
        if x:
            extra.append((v, x, x.bit_count()))
    return _Evaluated(first.plans + wide.plans, first.classes + tuple(extra), wide.total, wide.facets)
