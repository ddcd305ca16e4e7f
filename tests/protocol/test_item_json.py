"""Items spliced into answers as the JSON they encoded once: the same bytes as the dicts."""

from __future__ import annotations

import attrs
import orjson
from hypothesis import given
from hypothesis import strategies as st

from actors.catalog.model import ContentItem
from protocol.item_json import fragments, hit_fragments

MOVIE = ContentItem("m-1", 'The "Matrix" é \u2028', "movie", 1999, ("Action", "Sci-Fi"), ("netflix",),
                    8.7, 95.0, 8_160_000)
EPISODE = ContentItem("e-1", "Pilot", "episode", 2017, (), (), 0.0, 0.0, 0, "s-1", 1, 2)

labels = st.lists(st.text(min_size=1, max_size=8), max_size=3).map(tuple)
items = st.builds(ContentItem, st.text(min_size=1, max_size=12), st.text(min_size=1, max_size=40),
                  st.sampled_from(["movie", "series"]), st.integers(1870, 2100), labels, labels,
                  st.floats(0, 10), st.floats(0, 1e15), st.integers(0, 10**10))


@given(st.lists(items, max_size=5))
def test_a_list_encodes_as_the_dicts_do(found: list[ContentItem]) -> None:
    assert orjson.dumps({"items": fragments(found)}) == orjson.dumps({"items": [i.to_dict() for i in found]})


def test_hits_carry_their_highlights_last() -> None:
    marks = [[{"start": 0, "end": 3}], []]
    got = orjson.dumps(hit_fragments([MOVIE, EPISODE], marks))
    assert got == orjson.dumps([{**MOVIE.to_dict(), "highlights": marks[0]},
                                {**EPISODE.to_dict(), "highlights": marks[1]}])


def test_an_item_encodes_once_and_its_encoding_is_not_part_of_the_value() -> None:
    item = attrs.evolve(MOVIE)
    first = item.to_json()
    assert item.to_json() is first
    assert item == MOVIE and hash(item) == hash(MOVIE) and "_json" not in repr(item)
    changed = attrs.evolve(item, title="Other")
    assert orjson.loads(changed.to_json())["title"] == "Other"
