"""SearchIndex on a small hand-made catalog: exact expected rankings, typos, accents,
prefixes, filters, facets, paging, incremental updates and autocomplete."""

from __future__ import annotations

import attrs
import pytest

from actors.catalog.model import ContentItem
from actors.errors import InvalidParams
from actors.search.index import SearchIndex
from actors.search.autocomplete import Suggestion


def item(id_: str, title: str, type_: str, year: int, genres: tuple[str, ...], platforms: tuple[str, ...],
         rating: float, popularity: float) -> ContentItem:
    return ContentItem(id=id_, title=title, type=type_, year=year, genres=genres, platforms=platforms,
                       rating=rating, popularity=popularity, duration_ms=100 * 60_000)


CATALOG = (
    item("m01", "The Matrix", "movie", 1999, ("Action", "Sci-Fi"), ("Netflix",), 8.7, 1_000_000),
    item("m02", "The Matrix Reloaded", "movie", 2003, ("Action", "Sci-Fi"), ("Netflix", "Max"), 7.2, 200_000),
    item("m03", "Matrix of Dreams", "movie", 2015, ("Drama",), ("Mubi",), 5.1, 50),
    item("m04", "Amélie", "movie", 2001, ("Comedy", "Romance"), ("Netflix", "Prime Video"), 8.3, 300_000),
    item("m05", "The Godfather", "movie", 1972, ("Crime", "Drama"), ("Prime Video",), 9.2, 800_000),
    item("m06", "The Godfather Part II", "movie", 1974, ("Crime", "Drama"), ("Prime Video",), 9.0, 400_000),
    item("s01", "Breaking Bad", "series", 2008, ("Crime", "Drama", "Thriller"), ("Netflix",), 9.5, 900_000),
    item("e01", "Breaking Bad S1E1", "episode", 2008, ("Crime", "Drama", "Thriller"), ("Netflix",), 9.0, 90_000),
    item("e02", "Breaking Bad S1E2", "episode", 2008, ("Crime", "Drama", "Thriller"), ("Netflix",), 8.6, 60_000),
    item("m07", "Léon: The Professional", "movie", 1994, ("Action", "Crime"), ("Max",), 8.5, 250_000),
    item("m08", "Spirited Away", "movie", 2001, ("Animation", "Family"), ("Max",), 8.6, 350_000),
    item("m09", "The Dark Knight", "movie", 2008, ("Action", "Crime"), ("Max", "Netflix"), 9.0, 700_000),
    item("m10", "Dark Harbor", "movie", 2019, ("Thriller",), ("Hulu",), 6.1, 1_200),
    item("s02", "Dark", "series", 2017, ("Crime", "Mystery"), ("Netflix",), 8.7, 500_000),
    item("m11", "Interstellar", "movie", 2014, ("Adventure", "Sci-Fi"), ("Prime Video",), 8.7, 600_000),
    item("m12", "The Lord of the Rings", "movie", 2001, ("Adventure", "Fantasy"), ("Max",), 8.9, 650_000),
)


@pytest.fixture
def ix() -> SearchIndex:
    return SearchIndex(CATALOG)


def ids(result) -> list[str]:
    return [i.id for i in result.items]


# -- ranking ------------------------------------------------------------------------


def test_exact_title_first_then_popularity(ix: SearchIndex) -> None:
    r = ix.query("the matrix")
    assert ids(r) == ["m01", "m02", "m03"]
    assert r.total == 3 and r.corrected_query is None
    assert r.scores == sorted(r.scores, reverse=True)


def test_leading_article_is_optional_and_ignored_for_exact_titles(ix: SearchIndex) -> None:
    assert ids(ix.query("matrix")) == ["m01", "m02", "m03"]
    # "Dark" is the exact title; "The Dark Knight" is more popular but only starts with it.
    assert ids(ix.query("dark")) == ["s02", "m09", "m10"]
    assert ids(ix.query("godfather")) == ["m05", "m06"]


def test_all_words_are_required_except_stopwords(ix: SearchIndex) -> None:
    assert ids(ix.query("dark harbor")) == ["m10"]
    assert ids(ix.query("the dark of harbor")) == ["m10"]
    assert ix.query("dark godfather").total == 0
    # A query of stopwords only requires them.
    assert set(ids(ix.query("the of", limit=50))) == {"m12"}


def test_phrase_beats_scattered_words(ix: SearchIndex) -> None:
    extra = item("x01", "Bad Breaking News", "movie", 2020, ("Drama",), ("Hulu",), 5.0, 200_000)
    ix.upsert(extra)
    # x01 is more popular than the episodes but holds the words out of order: the
    # titles holding them as a phrase rank above it.
    assert ids(ix.query("breaking bad ")) == ["s01", "e01", "e02", "x01"]
    # Proximity is weighed with popularity: a hundred times more popular than the
    # episodes, x01 outranks them (not the exact title, ten times less popular).
    ix.upsert(attrs.evolve(extra, popularity=9_000_000))
    assert ids(ix.query("breaking bad ")) == ["s01", "x01", "e01", "e02"]


def test_an_exact_title_does_not_bury_a_far_more_popular_one(ix: SearchIndex) -> None:
    # "Dark Harbor" (m10) has popularity 1,200.
    ix.upsert(item("x03", "Harbor", "movie", 2020, (), (), 5.0, 100))
    assert ids(ix.query("harbor ")) == ["m10", "x03"]  # exact, but 12x less popular
    ix.upsert(item("x03", "Harbor", "movie", 2020, (), (), 5.0, 1_000))
    assert ids(ix.query("harbor ")) == ["x03", "m10"]  # exact, a little less popular: first
    ix.upsert(item("x04", "Harbor Lights", "movie", 2020, (), (), 5.0, 100_000))
    assert ids(ix.query("harbor "))[0] == "x04"  # a hundred times more popular: first


def test_episode_by_code(ix: SearchIndex) -> None:
    assert ids(ix.query("breaking bad s1e2")) == ["e02"]


def test_accents_are_folded_both_ways(ix: SearchIndex) -> None:
    for q in ("amelie", "Amélie", "AMELIE!", "améLIE"):
        assert ids(ix.query(q)) == ["m04"], q
    assert ids(ix.query("leon professional")) == ["m07"]
    assert ids(ix.query("léon")) == ["m07"]


def test_last_word_is_a_prefix_unless_followed_by_a_separator(ix: SearchIndex) -> None:
    assert ids(ix.query("inters")) == ["m11"]
    assert ids(ix.query("the godf")) == ["m05", "m06"]
    assert ix.query("inters ").total == 0


# -- spelling -----------------------------------------------------------------------


def test_teh_matrix_is_corrected(ix: SearchIndex) -> None:
    r = ix.query("teh matrix")
    assert r.corrected_query == "the matrix"
    assert ids(r)[0] == "m01"
    assert ix.correct("teh matrix") == "the matrix"


def test_typos_scaled_by_word_length(ix: SearchIndex) -> None:
    r = ix.query("godfater")  # 8 letters: one edit
    assert r.corrected_query == "godfather" and ids(r) == ["m05", "m06"]
    r = ix.query("intrestelar")  # 11 letters: two edits (transposition + deletion)
    assert r.corrected_query == "interstellar" and ids(r) == ["m11"]
    r = ix.query("drak harbor")  # 4 letters: a transposition only
    assert r.corrected_query == "dark harbor" and ids(r) == ["m10"]
    r = ix.query("dork harbor ")  # 4 letters, a substitution: only once widened
    assert r.corrected_query == "dark harbor" and ids(r) == ["m10"] and r.typos == [1]
    ix.upsert(item("x02", "Dork Harbor", "movie", 2020, (), (), 5.0, 1))
    r = ix.query("dork harbor ")  # found as typed, but too little: the widened hit follows
    assert r.corrected_query is None and ids(r) == ["x02", "m10"] and r.typos == [0, 1]
    r = ix.query("breakinf bad")
    assert r.corrected_query == "breaking bad" and ids(r)[0] == "s01"


def test_correction_only_when_the_query_finds_too_little(ix: SearchIndex) -> None:
    assert ix.query("matrix").corrected_query is None
    assert ix.correct("the matrix") is None
    assert ix.correct("zzzzzzz") is None
    assert ix.query("zzzzzzz").total == 0


def test_learned_correction_beats_computed(ix: SearchIndex) -> None:
    assert ix.correct("godfater") == "godfather"
    ix.add_correction("Godfater", "dark knight")
    assert ix.correct("godfater") == "dark knight"
    r = ix.query("godfater")
    assert r.corrected_query == "dark knight" and ids(r) == ["m09"]


def test_learned_correction_of_an_abbreviation(ix: SearchIndex) -> None:
    ix.add_correction("LOTR", "lord of the rings")
    r = ix.query("lotr")
    assert r.corrected_query == "lord of the rings" and ids(r) == ["m12"]


def test_learned_correction_needs_words(ix: SearchIndex) -> None:
    with pytest.raises(InvalidParams):
        ix.add_correction("...", "the matrix")
    with pytest.raises(InvalidParams):
        ix.add_correction("matrx", " ")


# -- filters and facets -------------------------------------------------------------


def test_filters(ix: SearchIndex) -> None:
    assert ids(ix.query("", {"genres": ["Crime"], "platforms": ["Max"]})) == ["m09", "m07"]
    assert ids(ix.query("dark", {"type": "series"})) == ["s02"]
    assert ids(ix.query("", {"type": ["episode"], "rating_min": 8.7})) == ["e01"]
    assert ids(ix.query("", {"year_min": 2010, "year_max": 2015})) == ["m11", "m03"]
    assert ids(ix.query("", {"rating_max": 6.1})) == ["m10", "m03"]
    assert ids(ix.query("", {"genres": ["crime"], "year_max": 1974})) == ["m05", "m06"]  # genre case ignored
    assert ix.query("", {"genres": ["Western"]}).total == 0


def test_rating_bounds_far_outside_0_to_10_are_no_bounds(ix: SearchIndex) -> None:
    every = ids(ix.query("", limit=100))
    assert ids(ix.query("", {"rating_min": -1e308, "rating_max": 1e308}, limit=100)) == every
    assert ids(ix.query("", {"rating_min": -1e308, "rating_max": 6.1}, include_facets=True)) == ["m10", "m03"]
    assert ix.query("", {"rating_min": 1e308}, include_facets=True).total == 0
    assert ix.query("", {"rating_max": -1e308}).total == 0


def test_bad_filters_are_invalid_params(ix: SearchIndex) -> None:
    with pytest.raises(InvalidParams):
        ix.query("matrix", {"year_min": "new"})


def test_disjunctive_facets(ix: SearchIndex) -> None:
    r = ix.query("", {"genres": ["Sci-Fi"], "platforms": ["Netflix"]}, include_facets=True)
    assert ids(r) == ["m01", "m02"]
    facets = r.facets
    # Genre counts ignore the genre filter but keep the platform filter (Netflix: 8
    # titles), sorted by count, then value.
    assert facets["genres"] == [
        {"value": "Crime", "count": 5},
        {"value": "Action", "count": 3},
        {"value": "Drama", "count": 3},
        {"value": "Thriller", "count": 3},
        {"value": "Sci-Fi", "count": 2},
        {"value": "Comedy", "count": 1},
        {"value": "Mystery", "count": 1},
        {"value": "Romance", "count": 1},
    ]
    # Platform counts ignore the platform filter but keep the genre filter (Sci-Fi: 3).
    assert facets["platforms"] == [
        {"value": "Netflix", "count": 2},
        {"value": "Max", "count": 1},
        {"value": "Prime Video", "count": 1},
    ]
    assert facets["year_range"] == {"min": 1999, "max": 2003}
    assert facets["rating_range"] == {"min": 7.2, "max": 8.7}


def test_facets_of_no_hits(ix: SearchIndex) -> None:
    r = ix.query("godfather", {"platforms": ["Hulu"]}, include_facets=True)
    assert r.total == 0 and r.items == []
    assert r.facets["platforms"] == [{"value": "Prime Video", "count": 2}]
    assert r.facets["genres"] == []
    assert r.facets["year_range"] is None and r.facets["rating_range"] is None
    assert ix.query("matrix").facets is None


# -- paging -------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["", "the", "dark", "breaking"])
def test_pages_by_offset_and_keyset_walk_every_hit_once(ix: SearchIndex, text: str) -> None:
    everything = ix.query(text, limit=100)
    assert len(everything.items) == everything.total
    keys = list(zip((-s for s in everything.scores), ids(everything)))
    assert keys == sorted(keys)
    by_offset: list[str] = []
    for offset in range(0, everything.total, 3):
        by_offset += ids(ix.query(text, offset=offset, limit=3))
    by_key: list[str] = []
    after = None
    while True:
        page = ix.query(text, limit=3, after=after)
        by_key += ids(page)
        if page.next_after is None:
            break
        after = page.next_after
    assert by_offset == by_key == ids(everything)


# -- updates ------------------------------------------------------------------------


def test_upsert_and_remove_update_every_structure(ix: SearchIndex) -> None:
    ix.upsert(item("m13", "The Matrix Resurrections", "movie", 2021, ("Action",), ("Max",), 5.7, 100_000))
    assert ids(ix.query("matrix")) == ["m01", "m02", "m13", "m03"]
    assert ix.get("m13").year == 2021
    assert ix.remove("m01") and not ix.remove("m01")
    assert ix.get("m01") is None and "m01" not in ix
    assert ids(ix.query("matrix")) == ["m02", "m13", "m03"]
    assert [s.content_id for s in ix.autocomplete("matr")] == ["m02", "m13", "m03"]
    # Replace a title: old words stop matching, new ones match, facets follow.
    ix.upsert(item("m04", "Le Fabuleux Destin", "movie", 2001, ("Romance",), ("Mubi",), 8.3, 300_000))
    assert ix.query("amelie").total == 0
    assert ids(ix.query("fabuleux")) == ["m04"]
    r = ix.query("", {"platforms": ["Mubi"]}, include_facets=True)
    assert ids(r) == ["m04", "m03"]
    assert {f["value"]: f["count"] for f in r.facets["genres"]} == {"Romance": 1, "Drama": 1}
    # A word that left the vocabulary is no longer a correction target.
    assert ix.correct("amelei") is None
    assert len(ix) == len(CATALOG)


def test_removed_slots_are_reused_and_build_replaces(ix: SearchIndex) -> None:
    ix.remove("m03")
    ix.upsert(item("n01", "Quiet Harbor", "movie", 2022, ("Drama",), ("Hulu",), 6.0, 10))
    assert ids(ix.query("harbor")) == ["m10", "n01"]
    ix.build(CATALOG[:2])
    assert len(ix) == 2 and ix.query("harbor").total == 0
    assert ids(ix.query("")) == ["m01", "m02"]


def test_cached_results_are_dropped_on_writes() -> None:
    many = [item(f"x{i:03d}", f"The Story {i}", "movie", 2000, ("Drama",), ("Hulu",), 5.0, i) for i in range(40)]
    ix = SearchIndex(many)
    ix.cache_from = 10
    assert ix.query("story").total == 40
    assert ix.query("story", offset=38).total == 40  # served from the cache
    ix.remove("x039")
    assert ix.query("story").total == 39
    ix.upsert(item("y001", "Another Story", "movie", 2000, ("Drama",), ("Hulu",), 5.0, 10**6))
    assert ix.query("story").items[0].id == "y001"
    ix.add_correction("storey", "story")
    assert ix.query("storey").total == 40


# -- autocomplete -------------------------------------------------------------------


def test_autocomplete_empty_gives_the_most_popular(ix: SearchIndex) -> None:
    assert [s.content_id for s in ix.autocomplete("", limit=3)] == ["m01", "s01", "m05"]
    (top,) = ix.autocomplete("", limit=1)
    assert top == Suggestion("The Matrix", top.score, "title", "m01")
    assert 0.5 < top.score <= 1


def test_autocomplete_prefix_and_complete_words(ix: SearchIndex) -> None:
    # "the" is optional, so "Matrix of Dreams" follows those that hold it.
    assert [s.text for s in ix.autocomplete("the m")] == ["The Matrix", "The Matrix Reloaded", "Matrix of Dreams"]
    assert [s.content_id for s in ix.autocomplete("dar")] == ["s02", "m09", "m10"]  # "Dark" it covers whole
    assert [s.content_id for s in ix.autocomplete("breaking bad s1")] == ["e01", "e02"]
    assert [s.content_id for s in ix.autocomplete("ame")] == ["m04"]
    # A trailing space completes the last word: "Dark" is now an exact title.
    assert [s.content_id for s in ix.autocomplete("dark ")] == ["s02", "m09", "m10"]
    assert ix.autocomplete("zq") == []


def test_autocomplete_tolerates_a_typo_from_four_characters(ix: SearchIndex) -> None:
    got = ix.autocomplete("matirx")
    assert [s.content_id for s in got] == ["m01", "m02", "m03"]
    assert all(s.score < 0.5 for s in got)  # typo matches score below exact ones
    # Three characters: one typo only once the prefix as typed finds nothing.
    assert [s.content_id for s in ix.autocomplete("mtr")] == ["m01", "m02", "m03"]
    assert [s.content_id for s in ix.autocomplete("dar")] == ["s02", "m09", "m10"]  # "Dark" it covers whole
    exact = ix.autocomplete("matr")
    assert [s.content_id for s in exact][:3] == ["m01", "m02", "m03"]
    assert exact[0].score > 0.5


def test_autocomplete_corrects_earlier_words_and_clamps_limit(ix: SearchIndex) -> None:
    assert [s.content_id for s in ix.autocomplete("teh godf")] == ["m05", "m06"]
    assert len(ix.autocomplete("", limit=500)) == len(CATALOG)
    assert len(ix.autocomplete("", limit=0)) == 1
    first = ix.autocomplete("the m")[0]
    assert first.to_dict() == {"text": "The Matrix", "score": first.score, "type": "title", "content_id": "m01",
                               "highlights": [{"start": 0, "end": 3}, {"start": 4, "end": 5}]}


# -- memory ---------------------------------------------------------------------------


def test_a_dropped_index_is_freed_without_the_cycle_collector() -> None:
    # Owners gc.freeze() after building; a reference cycle would then keep every
    # replaced index alive for good.
    import gc
    import weakref

    ix = SearchIndex(CATALOG)
    ix.add_correction("lotr", "lord of the rings")
    ix.query("teh matrix", include_facets=True)
    ix.query("the", {"genres": ["Drama"]}, include_facets=True)
    ix.autocomplete("matirx")
    ref = weakref.ref(ix)
    collecting = gc.isenabled()
    gc.disable()
    try:
        del ix
        assert ref() is None
    finally:
        if collecting:
            gc.enable()


# -- bounds -------------------------------------------------------------------------


def test_long_queries_count_their_first_ten_words_and_typos_are_bounded() -> None:
    ix = SearchIndex([item("b1", "Alpha Bravo Charlie Delta Hotel", "movie", 2000, (), (), 5.0, 10)])
    assert ids(ix.query("alphx bravx charlix deltx hotel ")) == ["b1"]  # four typos
    assert ix.query("alphx bravx charlix deltx hotxl ").total == 0  # five: no match
    words = "alpha bravo charlie delta hotel " + "zzz " * 40
    assert ix.query(words).total == 0  # the first ten words count, "zzz" among them
    assert ids(ix.query("alpha bravo charlie delta hotel the the the the the " + "zzz " * 40)) == ["b1"]
