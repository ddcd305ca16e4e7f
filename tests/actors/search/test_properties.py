"""Property tests: SearchIndex's fast paths against slow ones, over random small
catalogs, random filters and random incremental updates.

- Hits and facets against brute force (every title evaluated with `ranking.evaluate`,
  filters checked field by field), so the bitset class algebra must agree with a
  title-by-title reading of the same rules.
- Pages, by offset and by keyset, against the whole hit list sorted by score; and the
  walk that stops early (documents in popularity order) against scoring every hit.
- After random upserts and removals (late slots, holes, re-layouts), the same answers
  as a fresh build.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from actors.catalog.model import CONTENT_TYPES, ContentItem
from actors.paging import OffsetPage
from actors.search import ranking
from actors.search.actor import list_page
from actors.search.filters import parse_filters
from actors.search.index import WIDE_PENALTY, SearchIndex
from actors.search.text import ends_inside_word, normalize
from actors.search.typos import BASE, WIDE

WORDS = ("red", "blue", "night", "the", "of", "harbor", "king", "queen", "storm", "nigth", "ii", "2", "kings")
GENRES = ("Drama", "Comedy", "Crime", "Horror", "Western")
PLATFORMS = ("Netflix", "Max", "Hulu", "Mubi")

items_st = st.builds(
    ContentItem,
    id=st.text("abcdef0123", min_size=1, max_size=4),
    title=st.lists(st.sampled_from(WORDS), min_size=1, max_size=4).map(" ".join),
    type=st.sampled_from(CONTENT_TYPES),
    year=st.integers(1990, 1999),
    genres=st.lists(st.sampled_from(GENRES), max_size=3, unique=True).map(tuple),
    platforms=st.lists(st.sampled_from(PLATFORMS), max_size=2, unique=True).map(tuple),
    rating=st.integers(0, 100).map(lambda r: r / 10),
    popularity=st.sampled_from([0.0, 1.0, 2.0, 3.0, 10.0, 12.0, 55.5, 60.0, 1000.0, 1e6]),
    duration_ms=st.just(0),
)
catalogs = st.lists(items_st, max_size=40, unique_by=lambda i: i.id)
filters_st = st.fixed_dictionaries(
    {},
    optional={
        "genres": st.lists(st.sampled_from(GENRES + ("drama", "Sport")), max_size=2),
        "platforms": st.lists(st.sampled_from(PLATFORMS), max_size=2),
        "type": st.sampled_from(CONTENT_TYPES),
        "year_min": st.integers(1989, 2000),
        "year_max": st.integers(1989, 2000),
        "rating_min": st.sampled_from([0, 2.5, 5, 5.05, 7.3, 10]),
        "rating_max": st.sampled_from([0, 2.5, 5, 5.05, 7.3, 10]),
    },
).filter(
    lambda f: f.get("year_min", 0) <= f.get("year_max", 9999) and f.get("rating_min", 0) <= f.get("rating_max", 10)
)
queries = st.sampled_from(
    ["", "red ", "the ", "night ", "king queen ", "the storm ", "red", "the sto", "kin", "q", "king qu", "of the",
     "nihgt", "night red", "part 2", "ii", "harbr ", "kng ", "the red night", "blue of"]
)


def brute(ix: SearchIndex, catalog: list[ContentItem], text: str, raw: dict[str, Any]):  # type: ignore[no-untyped-def]
    """Every title scored one by one (the typed pass, then the widened one when the
    first finds fewer than `widen_below`), filters checked field by field."""
    f = parse_filters(raw)
    wanted_g = {g.casefold() for g in f.genres}
    wanted_p = {p.casefold() for p in f.platforms}

    def scalar(i: ContentItem) -> bool:
        return ((not f.types or i.type in f.types)
                and (f.year_min is None or i.year >= f.year_min)
                and (f.year_max is None or i.year <= f.year_max)
                and (f.rating_min is None or i.rating >= f.rating_min)
                and (f.rating_max is None or i.rating <= f.rating_max))

    def g_ok(i: ContentItem) -> bool:
        return not f.genres or any(g.casefold() in wanted_g for g in i.genres)

    def p_ok(i: ContentItem) -> bool:
        return not f.platforms or any(p.casefold() in wanted_p for p in i.platforms)

    tokens = normalize(text)
    docs = ix.docs

    def scored(rule, penalty) -> dict[str, float]:  # type: ignore[no-untyped-def]
        out = {}
        if not tokens:
            return {i.id: round(docs.pop[docs.slot_of[i.id]], 6) for i in catalog}
        plans = [ranking.plan(docs, ix.vocab, r, rule, penalty) for r in ix.readings(tokens, ends_inside_word(text))]
        for i in catalog:
            best = None
            for p in plans:
                r = ranking.evaluate(tuple(normalize(i.title)), p)
                if r is not None and (best is None or r[0] + r[1] > best):
                    best = r[0] + r[1]
            if best is not None:
                out[i.id] = round(best + docs.pop[docs.slot_of[i.id]], 6)
        return out

    by_id = {i.id: i for i in catalog}

    def passing(scores: dict[str, float]) -> list[ContentItem]:
        return [by_id[k] for k in scores if scalar(by_id[k]) and g_ok(by_id[k]) and p_ok(by_id[k])]

    scores = scored(BASE, 0)
    if tokens and len(passing(scores)) < ix.widen_below:
        wide = scored(WIDE, WIDE_PENALTY)
        if len(passing(wide)) > len(passing(scores)):
            for k, v in wide.items():
                scores.setdefault(k, v)
    base = [by_id[k] for k in scores if scalar(by_id[k])]
    final = [i for i in base if g_ok(i) and p_ok(i)]
    genres = Counter(g for i in base if p_ok(i) for g in i.genres)
    platforms = Counter(p for i in base if g_ok(i) for p in i.platforms)
    facets = {
        "genres": [{"value": v, "count": c} for v, c in sorted(genres.items(), key=lambda vc: (-vc[1], vc[0]))],
        "platforms": [{"value": v, "count": c} for v, c in sorted(platforms.items(), key=lambda vc: (-vc[1], vc[0]))],
        "year_range": {"min": min(i.year for i in final), "max": max(i.year for i in final)} if final else None,
        "rating_range": {"min": min(i.rating for i in final), "max": max(i.rating for i in final)} if final else None,
    }
    order = sorted(((-scores[i.id], i.id) for i in final))
    return [k for _, k in order], [-s for s, _ in order], facets


MODES = ("score-all", "walk", "walk-late", "popcounts", "arrays")


def make_index(catalog: list[ContentItem], mode: str) -> SearchIndex:
    """Force one way of answering: score every hit of a class, or walk classes in
    popularity order and stop early (with every title in its built place, or with
    half of them written afterwards into late slots); count facets title by title, by
    numpy over per-title label masks, or by popcounts of bitsets."""
    if mode == "walk-late":
        ix = SearchIndex(catalog[::2])
        ix.relayout_least = 10**9
        for item in catalog[1::2]:
            ix.upsert(item)
    else:
        ix = SearchIndex(catalog)
    ix.score_all_below = 10**9 if mode == "score-all" else -(10**9)
    ix.count_titles_below = 0 if mode in ("popcounts", "arrays", "walk-late") else 10**9
    ix.facet_arrays_max = 10**9 if mode in ("arrays", "walk-late") else -1
    return ix


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(catalogs, queries, filters_st, st.sampled_from(MODES), st.sampled_from([1, 2, 3, 100]))
def test_hits_order_and_facets_match_brute_force(catalog, text, raw, mode, limit) -> None:
    ix = make_index(catalog, mode)
    result = ix.query(text, raw, include_facets=True, limit=limit)
    ids, scores, facets = brute(ix, catalog, text, raw)
    assert result.total == len(ids)
    assert [i.id for i in result.items] == ids[:limit]
    assert result.scores == scores[:limit]
    assert result.facets == facets


def test_a_walk_looks_past_more_popular_titles_an_exact_one_can_beat() -> None:
    # "Red" (popularity 10) is exact and outranks "Blue Red" (12), which the walk in
    # popularity order meets first: the walk must not stop there.
    catalog = [ContentItem(id="a", title="Blue Red", type="movie", year=1990, popularity=12.0),
               ContentItem(id="b", title="Red", type="movie", year=1990, popularity=10.0)]
    for mode in MODES:
        ix = make_index(catalog, mode)
        assert [i.id for i in ix.query("red ", limit=1).items] == ["b"], mode


@settings(max_examples=60, deadline=None)
@given(catalogs, queries, filters_st, st.integers(1, 7), st.sampled_from(MODES))
def test_paging_walks_every_hit_once_in_order(catalog, text, raw, size, mode) -> None:
    ix = make_index(catalog, mode)
    everything = [i.id for i in ix.query(text, raw, limit=100).items]
    by_offset: list[str] = []
    offset = 0
    while True:
        page = ix.query(text, raw, offset=offset, limit=size)
        by_offset += [i.id for i in page.items]
        offset += size
        if offset >= page.total:
            break
    by_key: list[str] = []
    after = None
    for _ in range(100):
        page = ix.query(text, raw, limit=size, after=after)
        by_key += [i.id for i in page.items]
        if page.next_after is None:
            break
        after = page.next_after
    assert by_offset == everything
    assert by_key == everything
    # Every way agrees, score for score.
    scores = ix.query(text, raw, limit=100).scores
    for other_mode in MODES:
        again = make_index(catalog, other_mode).query(text, raw, limit=100)
        assert [i.id for i in again.items] == everything
        assert again.scores == scores


ops = st.lists(st.one_of(st.tuples(st.just("upsert"), items_st),
                         st.tuples(st.just("remove"), st.text("abcdef0123", min_size=1, max_size=4))), max_size=30)


@settings(max_examples=80, deadline=None)
@given(catalogs, ops, queries, filters_st, st.sampled_from([2, 10**9]))
def test_incremental_updates_equal_a_fresh_build(catalog, operations, text, raw, relayout) -> None:
    ix = SearchIndex(catalog)
    ix.relayout_least = relayout
    ix.query(text, raw, include_facets=True)  # fill the cache: writes must drop it
    current = {i.id: i for i in catalog}
    for op, arg in operations:
        if op == "upsert":
            ix.upsert(arg)
            current[arg.id] = arg
        else:
            assert ix.remove(arg) == (current.pop(arg, None) is not None)
    fresh = SearchIndex(list(current.values()))
    for score_all, arrays in ((-(10**9), -1), (10**9, 10**9)):
        ix.score_all_below = fresh.score_all_below = score_all
        ix.count_titles_below = fresh.count_titles_below = 0
        ix.facet_arrays_max = fresh.facet_arrays_max = arrays
        a = ix.query(text, raw, include_facets=True, limit=100)
        b = fresh.query(text, raw, include_facets=True, limit=100)
        assert (a.total, a.facets, [i.id for i in a.items]) == (b.total, b.facets, [i.id for i in b.items])
        assert a.scores == b.scores
        assert a.highlights == b.highlights and a.corrections == b.corrections
    for q in ("", "qu", "nigth ", "kin"):
        assert [s.content_id for s in ix.autocomplete(q, 50)] == [s.content_id for s in fresh.autocomplete(q, 50)]
    for sort in ("popularity", "title", "year"):
        assert list_page(ix, OffsetPage(1, 100), sort) == list_page(fresh, OffsetPage(1, 100), sort)
    assert len(ix) == len(current)
    assert sorted(ix.vocab.words) == sorted(fresh.vocab.words)
