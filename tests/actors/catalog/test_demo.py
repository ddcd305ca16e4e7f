"""The content item value (validation at the edge) and the demo catalog generator."""

from __future__ import annotations

import statistics
from collections import Counter

import pytest

from actors.catalog.demo import FAMOUS, GENRES, PLATFORMS, generate
from actors.catalog.model import ContentItem
from actors.errors import InvalidParams
from actors.search.index import SearchIndex

GOOD = {
    "id": "c1", "title": "Amélie", "type": "movie", "year": 2001, "genres": ["Comedy", "Romance"],
    "platforms": ["Netflix"], "rating": 8, "popularity": 12.5, "duration_ms": 7_320_000,
}


def test_from_dict_round_trips() -> None:
    item = ContentItem.from_dict(GOOD)
    assert item.rating == 8.0 and isinstance(item.rating, float)
    assert item.genres == ("Comedy", "Romance")
    assert item.to_dict() == {**GOOD, "rating": 8.0}
    assert ContentItem.from_dict(item.to_dict()) == item


def test_from_dict_defaults_and_ignores_unknown_keys() -> None:
    item = ContentItem.from_dict({"id": "x", "title": "T", "type": "series", "year": 1999, "extra": 1})
    assert (item.genres, item.platforms, item.rating, item.popularity, item.duration_ms) == ((), (), 0.0, 0.0, 0)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"id": ""}, "id"),
        ({"id": "x" * 129}, "id"),
        ({"id": 5}, "id"),
        ({"title": "  "}, "title"),
        ({"title": "t" * 501}, "title"),
        ({"type": "film"}, "type"),
        ({"year": 1869}, "year"),
        ({"year": 2101}, "year"),
        ({"year": 2000.5}, "year"),
        ({"year": True}, "year"),
        ({"genres": "Drama"}, "genres"),
        ({"genres": ["g"] * 21}, "genres"),
        ({"genres": ["x" * 65]}, "genres"),
        ({"platforms": [1]}, "platforms"),
        ({"rating": 10.5}, "rating"),
        ({"rating": -0.1}, "rating"),
        ({"rating": float("nan")}, "rating"),
        ({"rating": "8"}, "rating"),
        ({"popularity": -1}, "popularity"),
        ({"duration_ms": -1}, "duration_ms"),
        ({"duration_ms": 1.5}, "duration_ms"),
    ],
)
def test_from_dict_rejects(change: dict, field: str) -> None:
    with pytest.raises(InvalidParams) as e:
        ContentItem.from_dict({**GOOD, **change}, prefix="items[3].")
    assert e.value.errors == [{"field": f"items[3].{field}", "message": e.value.errors[0]["message"]}]


def test_from_dict_reports_every_problem() -> None:
    with pytest.raises(InvalidParams) as e:
        ContentItem.from_dict({"title": "", "rating": 11})
    assert {err["field"] for err in e.value.errors} == {"id", "type", "year", "title", "rating"}
    with pytest.raises(InvalidParams):
        ContentItem.from_dict(["not", "a", "dict"])


def test_same_seed_same_catalog_other_seed_other_catalog() -> None:
    a = list(generate(2000, seed=7))
    assert a == list(generate(2000, seed=7))
    assert a != list(generate(2000, seed=8))
    # A shorter catalog holds the same items, but for popularity (ranks among n).
    strip = lambda items: [(i.id, i.title, i.type, i.year, i.genres, i.rating) for i in items]  # noqa: E731
    assert strip(generate(500, seed=7)) == strip(a[:500])
    assert list(generate(0)) == []


def test_demo_catalog_is_plausible() -> None:
    items = list(generate(20_000, seed=1))
    assert len(items) == 20_000
    assert [i.id for i in items[:3]] == ["c000001", "c000002", "c000003"]
    assert len({i.id for i in items}) == len(items)
    titles = {i.title for i in items}
    for famous in ("The Matrix", "Amélie", "The Godfather", "Breaking Bad"):
        assert famous in titles
    assert len(titles) > 0.7 * len(items)
    for i in items:
        ContentItem.from_dict(i.to_dict())  # every item passes the edge's validation
        assert 1 <= len(i.genres) <= 3 and set(i.genres) <= set(GENRES)
        assert 1 <= len(i.platforms) <= 3 and set(i.platforms) <= set(PLATFORMS)
        assert 1920 <= i.year <= 2026
    types = Counter(i.type for i in items)
    assert types["movie"] > types["episode"] > types["series"] > 0
    # Every episode is linked to a series of the catalog; each series' episodes run
    # 1..k in every season and its seasons 1..m.
    by_id = {i.id: i for i in items}
    places: dict[str, dict[int, list[int]]] = {}
    for i in items:
        if i.type == "episode":
            assert by_id[i.series_id].type == "series" and "S1E" not in i.title
            places.setdefault(i.series_id, {}).setdefault(i.season, []).append(i.episode)
    assert len(places) > 100
    for seasons in places.values():
        assert sorted(seasons) == list(range(1, len(seasons) + 1))
        for numbers in seasons.values():
            assert numbers == list(range(1, len(numbers) + 1))
    bad = by_id["c000004"]
    assert bad.title == "Breaking Bad" and [(e.title, e.season, e.episode) for e in items[30:33]] == [
        ("Pilot", 1, 1), ("Cat's in the Bag...", 1, 2), ("...And the Bag's in the River", 1, 3)]
    assert all(e.series_id == "c000004" for e in items[30:33])
    years = [i.year for i in items]
    assert statistics.median(years) >= 2010  # skewed to recent years
    ratings = [i.rating for i in items]
    assert 6.0 < statistics.mean(ratings) < 7.0 and min(ratings) >= 0 and max(ratings) <= 10
    # Zipf popularity: the top title is far above the median one; famous ones on top.
    pops = sorted((i.popularity for i in items), reverse=True)
    assert pops[0] == items[0].popularity and pops[0] > 1000 * statistics.median(pops)
    minutes = {t: statistics.median(i.duration_ms / 60_000 for i in items if i.type == t) for t in types}
    assert 80 < minutes["movie"] < 130 and 18 < minutes["episode"] < 70


def test_famous_titles_are_findable_in_the_demo_catalog() -> None:
    items = list(generate(5_000))
    ix = SearchIndex(items)
    assert ix.query("the matrix").items[0].id == "c000001"
    assert ix.query("amelie").items[0].title == "Amélie"
    assert ix.query("teh godfather").corrected_query == "the godfather"
    assert ix.autocomplete("", 1)[0].text == FAMOUS[0][0]
