"""The typo machine: which vocabulary words a typed word may stand for, and at what cost.

One generator serves `search.query`, `search.autocomplete` and correction alike. For a
typed word it lists *derivations*: vocabulary words with the number of typos each costs
(0 for the word itself, its numeral twin "2" <-> "ii", and, for a word being typed, its
completions). Typos are counted as optimal string alignment distance
(Damerau-Levenshtein with adjacent swaps, rapidfuzz's OSA), allowed by the typed
word's length (`TypoRule`):

- 1-2 letters, or any word holding a digit: none ("2049" never becomes "2046"; digits
  are never the result of a typo either).
- 3-4 letters: one swap of adjacent letters ("teh" -> "the"); widened: one edit.
- 5-8 letters: one edit; widened: two.
- 9 letters and more: two edits.
- A word being typed (the last one, the text not ending in a separator) also matches
  every word it begins, at no cost, and from 4 letters (widened: 2) the words whose
  beginning is one edit from it, at one typo.

"Widened" is the second pass a query gets when the typed words find too little (see
`ranking`), as Typesense widens when fewer than `typo_tokens_threshold` hits come back.

A slip in a word being typed is matched by its *beginnings* one edit away ("matir" ->
"mati", "matr", ...): a title word starting with one of them matches at one typo.
Candidates for whole words come from a deletion index (SymSpell): every alphabetic vocabulary word's
first `PREFIX_LEN` letters with up to two letters deleted point back to the word, so a
lookup touches a few dozen keys instead of the vocabulary. Removal is lazy: a word that
leaves the vocabulary stays in the deletion index and is skipped while unused.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping, Sized

import attrs
from rapidfuzz.distance import OSA

from actors.search.text import NUMERAL_TWIN

PREFIX_LEN = 7
ALPHABET = "abcdefghijklmnopqrstuvwxyz"
DERIVED_CACHE = 20_000  # typed words whose derivations are kept (all dropped when full)
_TOP = "\U0010ffff"

SWAP = -1  # "one adjacent swap only"


@attrs.frozen
class TypoRule:
    """Typos allowed by word length: `steps` are (shortest length, typos), longest
    last; typos SWAP means one adjacent swap only. Policy as data."""

    steps: tuple[tuple[int, int], ...]
    fuzzy_prefix_from: int

    def allowed(self, word: str) -> int:
        if not word.isalpha():
            return 0
        n, out = len(word), 0
        for shortest, typos in self.steps:
            if n >= shortest:
                out = typos
        return out


BASE = TypoRule(steps=((3, SWAP), (5, 1), (9, 2)), fuzzy_prefix_from=4)
WIDE = TypoRule(steps=((3, 1), (5, 2)), fuzzy_prefix_from=2)


@attrs.frozen
class Derivation:
    """A vocabulary word a typed word may stand for. `prefix`: matched as a word being
    typed (the typed word begins it, possibly with a typo)."""

    word: str
    typos: int
    prefix: bool = False


def _deletes(word: str, distance: int) -> set[str]:
    """`word` and every string made from it by deleting up to `distance` characters."""
    out = {word}
    frontier = [word]
    for _ in range(distance):
        following = []
        for s in frontier:
            for i in range(len(s)):
                t = s[:i] + s[i + 1 :]
                if t not in out:
                    out.add(t)
                    following.append(t)
        frontier = following
    return out


def is_swap(a: str, b: str) -> bool:
    """True when b is a with two adjacent letters swapped."""
    if len(a) != len(b) or a == b:
        return False
    diff = [i for i in range(len(a)) if a[i] != b[i]]
    return len(diff) == 2 and diff[1] == diff[0] + 1 and a[diff[0]] == b[diff[1]] and a[diff[1]] == b[diff[0]]


class Vocabulary:
    """The indexed words: a sorted list for prefixes, a deletion index for typos.

    `postings` (the owner's: word -> the titles holding it) tells which words are in
    use. (A mapping the owner points at, not a callback into it: no reference cycle
    keeps a dropped index alive.)
    """

    def __init__(self, postings: Mapping[str, Sized]) -> None:
        self.postings = postings
        self.words: list[str] = []
        self._deletes: dict[str, str | list[str]] = {}
        self._indexed: set[str] = set()
        # (word, typing, rule) -> derivations; dropped whenever a word comes or goes
        self._derived: dict[tuple[str, bool, TypoRule], list[Derivation]] = {}

    def build(self, words: Iterable[str]) -> None:
        self.words = sorted(words)
        self._derived = {}
        self._deletes = {}
        self._indexed = set()
        for w in self.words:
            self._index(w)

    def add(self, word: str) -> None:
        i = bisect.bisect_left(self.words, word)
        if i == len(self.words) or self.words[i] != word:
            self.words.insert(i, word)
            self._derived.clear()
        self._index(word)

    def discard(self, word: str) -> None:
        i = bisect.bisect_left(self.words, word)
        if i < len(self.words) and self.words[i] == word:
            del self.words[i]
            self._derived.clear()

    def __len__(self) -> int:
        return len(self.words)

    def frequency(self, word: str) -> int:
        held = self.postings.get(word)
        return len(held) if held else 0

    def _index(self, word: str) -> None:
        if word in self._indexed or len(word) < 2 or not word.isalpha():
            return
        self._indexed.add(word)
        table = self._deletes
        for key in _deletes(word[:PREFIX_LEN], 2 if len(word) >= 4 else 1):
            held = table.get(key)
            if held is None:
                table[key] = word
            elif isinstance(held, str):
                table[key] = [held, word]
            else:
                held.append(word)

    # -- lookups ----------------------------------------------------------------------

    def completions(self, prefix: str) -> list[str]:
        """Every vocabulary word starting with `prefix` (titles are tested for the
        prefix itself, so the set of titles must be all of theirs)."""
        words = self.words
        lo = bisect.bisect_left(words, prefix)
        return words[lo : bisect.bisect_left(words, prefix + _TOP, lo)]

    def near(self, word: str, allowed: int) -> list[tuple[str, int]]:
        """Vocabulary words (alphabetic, in use) within `allowed` typos of `word`, not
        `word` itself, with their distance. `allowed` SWAP: adjacent swaps only."""
        if allowed == 0:
            return []
        distance = 1 if allowed == SWAP else allowed
        table, freq = self._deletes, self.frequency
        n = len(word)
        seen: set[str] = {word}
        out: list[tuple[str, int]] = []
        for key in _deletes(word[:PREFIX_LEN], distance):
            held = table.get(key)
            if held is None:
                continue
            for cand in (held,) if isinstance(held, str) else held:
                if cand in seen:
                    continue
                seen.add(cand)
                if abs(len(cand) - n) > distance:
                    continue
                if allowed == SWAP:
                    if not is_swap(word, cand):
                        continue
                    d = 1
                else:
                    d = OSA.distance(word, cand, score_cutoff=distance)
                    if d > distance:
                        continue
                if freq(cand):
                    out.append((cand, d))
        return out

    def fuzzy_prefix(self, prefix: str) -> list[str]:
        """The beginnings one edit from `prefix` (not `prefix` itself) that begin some
        alphabetic vocabulary word: a word starting with one of them matches `prefix`,
        being typed, at one typo (a Levenshtein prefix automaton, spelt out)."""
        words = self.words
        n = len(prefix)
        variants = set()
        for i in range(n):
            variants.add(prefix[:i] + prefix[i + 1 :])
            for c in ALPHABET:
                variants.add(prefix[:i] + c + prefix[i + 1 :])
        for i in range(n - 1):
            variants.add(prefix[:i] + prefix[i + 1] + prefix[i] + prefix[i + 2 :])
        for i in range(n + 1):
            for c in ALPHABET:
                variants.add(prefix[:i] + c + prefix[i:])
        variants.discard(prefix)
        found = []
        for v in variants:
            if not v or v.startswith(prefix):
                continue  # words starting with the prefix itself match it at no cost
            lo = bisect.bisect_left(words, v)
            if lo < len(words) and words[lo].startswith(v):
                found.append(v)
        # Drop variants another variant already covers ("ab" covers "abc").
        found.sort()
        kept: list[str] = []
        for v in found:
            if not kept or not v.startswith(kept[-1]):
                kept.append(v)
        return kept

    def derive(self, word: str, *, typing: bool, rule: TypoRule) -> list[Derivation]:
        """Every derivation of a typed `word` (the word itself first when in use).

        `typing`: the word is being typed, so the words it begins match too. Those
        are not listed: the caller tests titles for the prefix itself."""
        key = (word, typing, rule)
        hit = self._derived.get(key)
        if hit is not None:
            return hit
        if len(self._derived) >= DERIVED_CACHE:
            self._derived.clear()
        out = self._derived[key] = self._derive(word, typing, rule)
        return out

    def _derive(self, word: str, typing: bool, rule: TypoRule) -> list[Derivation]:
        freq = self.frequency
        out: list[Derivation] = []
        if freq(word):
            out.append(Derivation(word, 0))
        twin = NUMERAL_TWIN.get(word)
        if twin is not None and freq(twin):
            out.append(Derivation(twin, 0))
        out.extend(Derivation(w, d) for w, d in self.near(word, rule.allowed(word)))
        if typing and word.isalpha() and len(word) >= rule.fuzzy_prefix_from:
            out.extend(Derivation(w, 1, True) for w in self.fuzzy_prefix(word))
        return out
