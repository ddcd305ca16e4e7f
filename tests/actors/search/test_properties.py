"""Property tests: hits, facets and paging of SearchIndex against brute force over
random small catalogs and random filters, on both filtering paths (slot lists and
bitsets), and after random incremental updates."""

from __future__ import annotations

from collections import Counter
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from actors.catalog.model import CONTENT_TYPES, ContentItem
from actors.search.filters import parse_filters
from actors.search.index import SearchIndex
from actors.search.text import normalize

WORDS = ("red", "blue", "night", "the", "of", "harbor", "king", "queen", "storm")
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
    popularity=st.sampled_from([0.0, 1.0, 10.0, 55.5, 1000.0, 1e6]),
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
    ["", "red ", "the ", "night ", "king queen ", "the storm ", "red", "the sto", "kin", "q", "king qu", "of the"]
)


def brute(catalog: list[ContentItem], text: str, raw: dict[str, Any]) -> tuple[set[str], dict[str, Any]]:
    f = parse_filters(raw)
    words = normalize(text)
    # The last word is a prefix when typing goes on (text ends inside it, 2+ letters).
    prefix = words[-1] if words and text[-1:].isalnum() and len(words[-1]) >= 2 else None
    required = [w for w in words if w not in ("the", "of")] or words

    def holds(title: list[str], w: str) -> bool:
        return w in title or (w == prefix and any(t.startswith(w) for t in title))

    def scalar(i: ContentItem) -> bool:
        return (
            all(holds(normalize(i.title), w) for w in required)
            and (not f.types or i.type in f.types)
            and (f.year_min is None or i.year >= f.year_min)
            and (f.year_max is None or i.year <= f.year_max)
            and (f.rating_min is None or i.rating >= f.rating_min)
            and (f.rating_max is None or i.rating <= f.rating_max)
        )

    wanted_g = {g.casefold() for g in f.genres}
    wanted_p = {p.casefold() for p in f.platforms}

    def g_ok(i: ContentItem) -> bool:
        return not f.genres or any(g.casefold() in wanted_g for g in i.genres)

    def p_ok(i: ContentItem) -> bool:
        return not f.platforms or any(p.casefold() in wanted_p for p in i.platforms)

    base = [i for i in catalog if scalar(i)]
    final = [i for i in base if g_ok(i) and p_ok(i)]
    genres = Counter(g for i in base if p_ok(i) for g in i.genres)
    platforms = Counter(p for i in base if g_ok(i) for p in i.platforms)
    facets = {
        "genres": [{"value": v, "count": c} for v, c in sorted(genres.items(), key=lambda vc: (-vc[1], vc[0]))],
        "platforms": [{"value": v, "count": c} for v, c in sorted(platforms.items(), key=lambda vc: (-vc[1], vc[0]))],
        "year_range": {"min": min(i.year for i in final), "max": max(i.year for i in final)} if final else None,
        "rating_range": {"min": min(i.rating for i in final), "max": max(i.rating for i in final)} if final else None,
    }
    return {i.id for i in final}, facets


MODES = ("lists", "bits", "static", "static-shift", "static-direct")


def make_index(catalog: list[ContentItem], mode: str) -> SearchIndex:
    """Force one way of answering: filter slot lists, or bitsets and score every hit,
    or bitsets and walk the static order (scoring the titles starting with a one-word
    query apart, or shifting them by the start bonus in the walk; walking, or leaving
    the walk early for taking the hits directly)."""
    ix = SearchIndex(catalog)
    ix.bitset_from = 10**9 if mode == "lists" else 0
    ix.static_from = 0 if mode.startswith("static") else 10**9
    ix.apart_max = 0 if mode in ("static-shift", "static-direct") else 10**9
    ix.walk_extra = 0 if mode == "static-direct" else 400
    ix.cache_from = 5
    return ix


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(catalogs, queries, filters_st, st.sampled_from(MODES))
def test_hits_and_facets_match_brute_force(catalog, text, raw, mode) -> None:
    ix = make_index(catalog, mode)
    result = ix.query(text, raw, include_facets=True, limit=100)
    hits, facets = brute(catalog, text, raw)
    assert result.total == len(hits)
    assert {i.id for i in result.items} == hits
    assert result.facets == facets
    keys = [(-s, i.id) for s, i in zip(result.scores, result.items)]
    assert keys == sorted(keys)


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


ops = st.lists(st.one_of(st.tuples(st.just("upsert"), items_st), st.tuples(st.just("remove"), st.text("abcdef0123", min_size=1, max_size=4))), max_size=30)


@settings(max_examples=80, deadline=None)
@given(catalogs, ops, queries, filters_st)
def test_incremental_updates_equal_a_fresh_build(catalog, operations, text, raw) -> None:
    ix = SearchIndex(catalog)
    ix.cache_from = 1
    ix.query(text, raw, include_facets=True)  # fill the cache: writes must drop it
    current = {i.id: i for i in catalog}
    for op, arg in operations:
        if op == "upsert":
            ix.upsert(arg)
            current[arg.id] = arg
        else:
            assert ix.remove(arg) == (current.pop(arg, None) is not None)
    fresh = SearchIndex(list(current.values()))
    ix.refresh_statistics()  # the mean title length is frozen until it drifts
    for bitset_from, static_from in ((0, 0), (0, 10**9), (10**9, 10**9)):
        ix.bitset_from = fresh.bitset_from = bitset_from
        ix.static_from = fresh.static_from = static_from
        ix.apart_max = fresh.apart_max = 0
        a = ix.query(text, raw, include_facets=True, limit=100)
        b = fresh.query(text, raw, include_facets=True, limit=100)
        assert (a.total, a.facets, [i.id for i in a.items]) == (b.total, b.facets, [i.id for i in b.items])
        assert a.scores == b.scores
    assert [s.content_id for s in ix.autocomplete("", 50)] == [s.content_id for s in fresh.autocomplete("", 50)]
    assert [s.content_id for s in ix.autocomplete("qu", 50)] == [s.content_id for s in fresh.autocomplete("qu", 50)]
    assert len(ix) == len(current)
