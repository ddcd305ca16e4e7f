"""Normalisation, the spelling rules and filter parsing of the search index."""

from __future__ import annotations

import pytest

from actors.errors import InvalidParams
from actors.search.filters import Filters, parse_filters
from actors.search.spelling import Speller, allowed_typos
from actors.search.text import ends_inside_word, normalize


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
    ("word", "allowed"),
    [("ab", 0), ("teh", -1), ("drak", -1), ("matrx", 1), ("godfater", 1), ("interstelar", 2), ("s1e3", 0), ("1999", 0)],
)
def test_allowed_typos_by_length(word: str, allowed: int) -> None:
    assert allowed_typos(word) == allowed


def _speller(freq: dict[str, int]) -> Speller:
    sp = Speller({w: range(f) for w, f in freq.items()})
    sp.add_words(freq)
    return sp


def test_speller_prefers_distance_then_frequency() -> None:
    freq = {"the": 50, "matrix": 3, "matrices": 1, "harbor": 5, "harper": 9, "interstellar": 2, "dark": 7}
    sp = _speller(freq)
    assert sp.correct_word("teh") == "the"  # transposition of a short word
    assert sp.correct_word("drak") == "dark"
    assert sp.correct_word("dork") is None  # a substitution in a 4-letter word is not taken
    assert sp.correct_word("matirx") == "matrix"  # transposition counts as one edit (OSA)
    assert sp.correct_word("matrx") == "matrix"  # deletion
    assert sp.correct_word("harber") in ("harbor", "harper")
    assert sp.correct_word("harber") == "harper"  # both one edit away: the more frequent wins
    assert sp.correct_word("intersteller") == "interstellar"
    assert sp.correct_word("intrestelar") == "interstellar"  # two edits for 9+ letters
    assert sp.correct_word("mtarx") is None  # two edits for 5 letters: too many


def test_speller_skips_words_gone_from_the_vocabulary() -> None:
    sp = _speller({"harbor": 5})
    assert sp.correct_word("harbr") == "harbor"
    del sp.vocabulary["harbor"]
    assert sp.correct_word("harbr") is None


def test_learned_corrections_replace_runs_of_words() -> None:
    freq = {"lord": 3, "of": 9, "the": 20, "rings": 2, "godfather": 4}
    sp = _speller(freq)
    sp.learn(("lotr",), ("lord", "of", "the", "rings"))
    sp.learn(("god", "father"), ("godfather",))
    known = lambda w, last: freq.get(w, 0) > 0  # noqa: E731
    assert sp.correct_tokens(["lotr", "extended"], known) == ["lord", "of", "the", "rings", "extended"]
    assert sp.correct_tokens(["the", "god", "father"], known) == ["the", "godfather"]
    assert sp.correct_tokens(["the", "rings"], known) is None
    assert sp.forget(("lotr",))
    assert sp.correct_tokens(["lotr"], known) is None


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
