"""Text normalisation shared by indexing, querying, correction and autocomplete.

One folding for everything: case-folded, accents stripped (NFKD, combining marks
dropped, a few letters NFKD leaves alone mapped by hand), every other non-alphanumeric
character a separator. `spans` gives the same tokens with where each came from in the
original text, for highlights.
"""

from __future__ import annotations

import re
import unicodedata

# Letters NFKD does not decompose but readers treat as their base letters.
_FOLD = str.maketrans({"ø": "o", "æ": "ae", "œ": "oe", "ł": "l", "đ": "d", "ð": "d", "þ": "th", "ı": "i"})
_ASCII_WORD = re.compile(r"[A-Za-z0-9]+")
_ASCII_SEPARATORS = str.maketrans({chr(c): " " for c in range(128) if not chr(c).isalnum()})

# Words a query may contain without requiring them: "the godfather" also finds
# "Godfather". A query made of these words only requires them all.
STOPWORDS = frozenset(
    "a an and at by for from in of on or the to with "
    "de del des du el la las le les los und der die".split()
)
# Leading articles ignored when comparing a query with a whole title ("matrix" is an
# exact match for "The Matrix").
ARTICLES = frozenset(("the", "a", "an"))

# Roman numerals 1..20 and their arabic forms are the same word ("part 2" finds
# "Part II"). Larger ones are rare in titles and collide with words ("mix", "civil").
_ROMAN = ("i", "ii", "iii", "iv", "v", "vi", "vii", "viii", "ix", "x",
          "xi", "xii", "xiii", "xiv", "xv", "xvi", "xvii", "xviii", "xix", "xx")
NUMERAL_TWIN: dict[str, str] = {}
for _n, _r in enumerate(_ROMAN, 1):
    NUMERAL_TWIN[_r] = str(_n)
    NUMERAL_TWIN[str(_n)] = _r


def normalize(text: str) -> list[str]:
    """Tokens of `text`: case-folded, accents stripped, punctuation as separators.

    "Amélie" -> ["amelie"]; "Léon: The Professional" -> ["leon", "the", "professional"];
    "Schindler's List" -> ["schindler", "s", "list"]. Digits are kept ("s1e3", "2001").
    """
    if text.isascii():
        return text.lower().translate(_ASCII_SEPARATORS).split()
    decomposed = unicodedata.normalize("NFKD", text.casefold()).translate(_FOLD)
    out = []
    for ch in decomposed:
        if ch.isalnum():
            out.append(ch)
        elif not unicodedata.combining(ch):
            out.append(" ")
    return "".join(out).split()


def spans(text: str) -> list[tuple[str, list[int]]]:
    """The tokens of `normalize(text)`, each with the index in `text` of the character
    each of its letters came from: "Léon!" -> [("leon", [0, 1, 2, 3])]."""
    if text.isascii():
        return [(m.group().lower(), list(range(m.start(), m.end()))) for m in _ASCII_WORD.finditer(text)]
    out: list[tuple[str, list[int]]] = []
    letters: list[str] = []
    origin: list[int] = []
    for i, ch in enumerate(text):
        folded = ch.lower() if ch.isascii() else unicodedata.normalize("NFKD", ch.casefold()).translate(_FOLD)
        for c in folded:
            if c.isalnum():
                letters.append(c)
                origin.append(i)
            elif not unicodedata.combining(c) and letters:
                out.append(("".join(letters), origin))
                letters, origin = [], []
    if letters:
        out.append(("".join(letters), origin))
    return out


def ends_inside_word(text: str) -> bool:
    """True when the last character continues a word, so the last token may be a prefix."""
    if not text:
        return False
    last = text[-1]
    return last.isalnum() or unicodedata.combining(last) != 0


def strip_article(tokens: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    if len(tokens) > 1 and tokens[0] in ARTICLES:
        return tuple(tokens[1:])
    return tuple(tokens)
