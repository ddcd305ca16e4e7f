"""Spelling correction against the index vocabulary (SymSpell-style).

Typos allowed per word, by its length (Meilisearch/Typesense-like, one step stricter
for short words):

- 1–2 characters, or any word containing a digit: none.
- 3–4 characters: one transposition of adjacent letters only ("teh" -> "the",
  "mroe" -> "more"). A free edit on such short words mostly finds another real word
  ("cat" -> "car"), so only the commonest typing slip is accepted.
- 5–8 characters: one edit (insertion, deletion, substitution or transposition).
- 9 characters and more: two edits.

Distance is optimal string alignment (Damerau-Levenshtein with adjacent
transpositions, rapidfuzz's OSA). Candidates come from a deletion index: every
vocabulary word's prefix (first `PREFIX_LEN` characters) with up to two characters
deleted points back to the word, and a misspelling's own deletions look those up, so a
lookup touches a few dozen dict keys instead of the whole vocabulary. Among candidates
the smallest distance wins, then the most frequent word (document frequency), then
alphabetical order. Learned corrections (`add`) win over computed ones and may replace
a run of words ("lotr" -> "lord of the rings").

Removal is lazy: a word that leaves the vocabulary stays in the deletion index, and
lookups skip words whose frequency is zero.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sized

from rapidfuzz.distance import OSA

PREFIX_LEN = 7
MAX_LEARNED_WORDS = 8  # words per side of a learned correction


def allowed_typos(word: str) -> int:
    """Edits allowed for `word`; -1 means "one adjacent transposition only"."""
    n = len(word)
    if n < 3 or not word.isalpha():
        return 0
    if n <= 4:
        return -1
    if n <= 8:
        return 1
    return 2


def frequency(vocabulary: Mapping[str, Sized], word: str) -> int:
    """Number of documents holding `word` in `vocabulary` (0 for a word not in it)."""
    held = vocabulary.get(word)
    return len(held) if held else 0


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


class Speller:
    """Corrects words against a vocabulary it does not own.

    `vocabulary` maps each word to the documents holding it (their number is the
    word's frequency); the owner calls `add_word` when a word enters it. (A mapping,
    not a callback into the owner: no reference cycle keeps a dropped index alive.)
    """

    def __init__(self, vocabulary: Mapping[str, Sized]) -> None:
        self.vocabulary = vocabulary
        # deletion key -> the word (one) or list of words (several) it came from
        self._deletes: dict[str, str | list[str]] = {}
        self._indexed: set[str] = set()
        self._learned: dict[tuple[str, ...], tuple[str, ...]] = {}
        self._learned_max = 0

    # -- vocabulary -------------------------------------------------------------------

    def add_word(self, word: str) -> None:
        if word in self._indexed:
            return
        # Deletions needed by the longest query word that may reach this word: a
        # 1-typo query (5..8 letters) reaches words of 4+ letters, a 2-typo query
        # (9+ letters) words of 7+ letters.
        n = len(word)
        if n < 4 or not word.isalpha():
            return
        self._indexed.add(word)
        table = self._deletes
        for key in _deletes(word[:PREFIX_LEN], 2 if n >= 7 else 1):
            held = table.get(key)
            if held is None:
                table[key] = word
            elif isinstance(held, str):
                table[key] = [held, word]
            else:
                held.append(word)

    def add_words(self, words: Iterable[str]) -> None:
        for word in words:
            self.add_word(word)

    def clear(self) -> None:
        self._deletes.clear()
        self._indexed.clear()

    # -- learned corrections ----------------------------------------------------------

    def learn(self, misspelled: tuple[str, ...], corrected: tuple[str, ...]) -> None:
        """Remember a correction of normalised token runs; it wins over computed ones."""
        if not misspelled or not corrected:
            raise ValueError("both sides must contain a word")
        if len(misspelled) > MAX_LEARNED_WORDS or len(corrected) > MAX_LEARNED_WORDS:
            raise ValueError(f"at most {MAX_LEARNED_WORDS} words per side")
        self._learned[misspelled] = corrected
        self._learned_max = max(self._learned_max, len(misspelled))

    def forget(self, misspelled: tuple[str, ...]) -> bool:
        found = self._learned.pop(misspelled, None) is not None
        self._learned_max = max(map(len, self._learned), default=0)
        return found

    def learned(self) -> dict[tuple[str, ...], tuple[str, ...]]:
        return dict(self._learned)

    # -- correction -------------------------------------------------------------------

    def correct_word(self, word: str) -> str | None:
        """The best vocabulary word for a word not in the vocabulary, or None."""
        allowed = allowed_typos(word)
        if allowed == 0:
            return None
        vocabulary = self.vocabulary
        if allowed < 0:
            best, best_f = None, 0
            for i in range(len(word) - 1):
                if word[i] == word[i + 1]:
                    continue
                swapped = word[:i] + word[i + 1] + word[i] + word[i + 2 :]
                f = frequency(vocabulary, swapped)
                if f > best_f or (f == best_f and f and swapped < best):
                    best, best_f = swapped, f
            return best
        table = self._deletes
        seen: set[str] = set()
        best, best_key = None, None
        n = len(word)
        for key in _deletes(word[:PREFIX_LEN], allowed):
            held = table.get(key)
            if held is None:
                continue
            for cand in (held,) if isinstance(held, str) else held:
                if cand in seen:
                    continue
                seen.add(cand)
                if abs(len(cand) - n) > allowed:
                    continue
                d = OSA.distance(word, cand, score_cutoff=allowed)
                if d > allowed:
                    continue
                f = frequency(vocabulary, cand)
                if not f:
                    continue
                k = (d, -f, cand)
                if best_key is None or k < best_key:
                    best, best_key = cand, k
        return best

    def correct_tokens(
        self,
        tokens: list[str],
        is_known: Callable[[str, bool], bool],
    ) -> list[str] | None:
        """Correct a tokenised query; None when nothing changes.

        Learned runs are replaced first (longest match, left to right); every other
        word that `is_known(word, is_last)` rejects is corrected if a candidate exists.
        """
        out: list[str] = []
        i, n = 0, len(tokens)
        while i < n:
            for size in range(min(self._learned_max, n - i), 0, -1):
                repl = self._learned.get(tuple(tokens[i : i + size]))
                if repl is not None:
                    out.extend(repl)
                    i += size
                    break
            else:
                word = tokens[i]
                if not is_known(word, i == n - 1):
                    word = self.correct_word(word) or word
                out.append(word)
                i += 1
        return out if out != tokens else None
