"""Normalisation, the typo machine, corrections and synonyms, and filter parsing."""

from __future__ import annotations

import pytest

from actors.errors import InvalidParams
from actors.search.filters import Filters, parse_filters
from actors.search.readings import Rewrites, SynonymGroup
from actors.search.text import ends_inside_word, normalize, spans
from actors.search.typos import BASE, SWAP, WIDE, Vocabulary


@pytest.mark.parametrize(
    ("text", "tokens"),
    [
        ("Amélie", ["amelie"]),
        ("AMÉLIE", ["amelie"]),
        ("Léon: The Professional", ["leon", "the", "professional"]),
        ("Schindler's List", ["schindler", "s", "list"]),
        ("Crouching Tiger, Hidden Dragon", ["crouching", "tiger", "hidden", "dragon"]),
        ("Pokémon: The First Movie", ["pokemon", "the", "first", "movie"]),
        ("Søren & Zoë", ["soren", "zoe"]),
        ("Straße", ["strasse"]),
        ("Breaking Bad S1E3", ["breaking", "bad", "s1e3"]),
        ("2001: A Space Odyssey", ["2001", "a", "space", "odyssey"]),
        ("  ...  ", []),
        ("ﬁve", ["five"]),
        ("e\u0301te\u0301", ["ete"]),
    ],
)
def test_normalize(text: str, tokens: list[str]) -> None:
    assert normalize(text) == tokens


def test_ends_inside_word() -> None:
    assert ends_inside_word("the mat")
    assert ends_inside_word("amé")
    assert not ends_inside_word("the mat ")
    assert not ends_inside_word("matrix,")
    assert not ends_inside_word("")


@pytest.mark.parametrize(
    ("word", "base", "wide"),
    [("ab", 0, 0), ("teh", SWAP, 1), ("drak", SWAP, 1), ("matrx", 1, 2), ("thorns", 1, 2), ("godfater", 1, 2),
     ("interstelar", 2, 2), ("s1e3", 0, 0), ("1999", 0, 0)],
)
def test_typos_allowed_by_length(word: str, base: int, wide: int) -> None:
    assert (BASE.allowed(word), WIDE.allowed(word)) == (base, wide)


def _vocabulary(freq: dict[str, int]) -> Vocabulary:
    v = Vocabulary({w: range(f) for w, f in freq.items()})
    v.build(freq)
    return v


def near(v: Vocabulary, word: str, rule=BASE) -> dict[str, int]:  # type: ignore[no-untyped-def]
    return {d.word: d.typos for d in v.derive(word, typing=False, rule=rule)}


def test_derivations_by_distance() -> None:
    v = _vocabulary({"the": 50, "matrix": 3, "matrices": 1, "harbor": 5, "harper": 9, "interstellar": 2,
                     "dark": 7, "thrones": 2, "thorns": 1, "boot": 1, "2": 3, "ii": 1, "2049": 1, "2046": 1})
    assert near(v, "teh") == {"the": 1}  # a swap in a short word
    assert near(v, "drak") == {"dark": 1}
    assert near(v, "dork") == {}  # a substitution in a 4-letter word: only widened
    assert near(v, "dork", WIDE) == {"dark": 1}
    assert near(v, "matirx") == {"matrix": 1}  # a swap is one edit (OSA)
    assert near(v, "harber") == {"harbor": 1, "harper": 1}  # both: the titles decide
    assert near(v, "intrestelar") == {"interstellar": 2}
    assert near(v, "mtarx") == {}  # two edits for 5 letters: too many
    assert near(v, "thorns") == {"thorns": 0}  # a real word is kept, and
    assert near(v, "thorns", WIDE) == {"thorns": 0, "thrones": 2}  # widened reaches the slip
    assert near(v, "bot", WIDE) == {"boot": 1}
    assert near(v, "2") == {"2": 0, "ii": 0}  # numerals are one word, digits exact
    assert near(v, "2049", WIDE) == {"2049": 0}
    # A slip in a word being typed: its beginnings one edit away that begin a word.
    beginnings = {d.word for d in v.derive("matir", typing=True, rule=BASE) if d.prefix}
    assert beginnings == {"matr"}  # "mat" begins them too, but at no cost
    assert all(d.typos == 1 for d in v.derive("matir", typing=True, rule=BASE) if d.prefix)


def test_words_gone_from_the_vocabulary_are_skipped() -> None:
    v = _vocabulary({"harbor": 5})
    assert near(v, "harbr") == {"harbor": 1}
    del v.postings["harbor"]  # type: ignore[attr-defined]
    v.discard("harbor")
    assert near(v, "harbr") == {}
    assert v.completions("har") == []


def test_learned_corrections_replace_runs_and_synonyms_add_readings() -> None:
    r = Rewrites()
    r.learn(("lotr",), ("lord", "of", "the", "rings"))
    r.learn(("god", "father"), ("godfather",))
    (only,) = r.readings(["lotr", "extended"], False)
    assert only.tokens == ("lord", "of", "the", "rings", "extended")
    assert only.typed == (None, None, None, None, "extended") and only.learned == (("lotr", "lord of the rings"),)
    assert r.readings(["the", "god", "father"], True)[0].tokens == ("the", "godfather")
    assert not r.readings(["the", "god", "father"], True)[0].typing  # a corrected last word is whole
    r.set_synonyms([SynonymGroup((("scifi",), ("science", "fiction")))])
    assert [x.tokens for x in r.readings(["best", "scifi"], False)] == [("best", "scifi"), ("best", "science", "fiction")]
    assert [x.tokens for x in r.readings(["science", "fiction"], False)] == [("science", "fiction"), ("scifi",)]
    r.set_synonyms([SynonymGroup((("tv",), ("television",)), one_way=True)])
    assert len(r.readings(["tv"], False)) == 2 and len(r.readings(["television"], False)) == 1
    r.set_synonyms([])
    assert len(r.readings(["tv"], False)) == 1


def test_spans_follow_normalize() -> None:
    for text in ("Léon: The Professional", "Amélie!", "Schindler's List", "Søren & Zoë", "ﬁve e\u0301te\u0301"):
        assert [w for w, _ in spans(text)] == normalize(text)
    assert spans("Léon!") == [("leon", [0, 1, 2, 3])]
    assert spans("ﬁx it") == [("fix", [0, 0, 1]), ("it", [3, 4])]


def test_parse_filters_accepts_the_contract_shape() -> None:
    f = parse_filters(
        {"genres": ["Drama", "Drama", "Crime"], "platforms": ["Netflix"], "type": "movie",
         "year_min": 1990, "year_max": 2000, "rating_min": 7, "rating_max": 9.5}
    )
    assert f == Filters(("Drama", "Crime"), ("Netflix",), ("movie",), 1990, 2000, 7.0, 9.5)
    assert parse_filters(None) == Filters()
    assert parse_filters({"type": ["movie", "series"]}).types == ("movie", "series")


def test_parse_filters_names_every_bad_field() -> None:
    with pytest.raises(InvalidParams) as e:
        parse_filters({"genres": "Drama", "year_min": "1990", "rating_min": 9, "rating_max": 8, "colour": 1})
    fields = {err["field"] for err in e.value.errors}
    assert fields == {"filters.genres", "filters.year_min", "filters.rating_min", "filters.colour"}
    with pytest.raises(InvalidParams):
        parse_filters({"type": "documentary"})
    with pytest.raises(InvalidParams):
        parse_filters({"year_min": True})
    with pytest.raises(InvalidParams):
        parse_filters([1])
