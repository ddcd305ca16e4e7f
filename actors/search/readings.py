"""What a query may mean before typos: learned corrections and synonyms.

A learned correction (`search.corrections.add`) replaces a run of typed words and wins
over everything computed: only the corrected words are searched. A synonym adds
another *reading* of the query: "lotr" is searched as typed and as "lord of the rings"
(multi-way groups: every phrase of the group stands for every other; one-way: the first
phrase stands for the rest). Each reading is matched on its own and a title ranks by
its best reading.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import attrs

MAX_LEARNED_WORDS = 8  # words per side of a learned correction
MAX_READINGS = 8  # readings of one query, the typed one first
SYNONYM_GROUPS_MAX = 1000
SYNONYM_PHRASES_MAX = 20  # phrases per group
SYNONYM_WORDS_MAX = 8  # words per phrase


@attrs.frozen
class Reading:
    """One way to read a query. `typed[i]` is the typed word token i stands for, or
    None when a correction or synonym put it there. `typing`: the last token is still
    being typed (a prefix). `learned`: the learned corrections applied, (from, to)."""

    tokens: tuple[str, ...]
    typed: tuple[str | None, ...]
    typing: bool
    learned: tuple[tuple[str, str], ...] = ()


@attrs.frozen
class SynonymGroup:
    phrases: tuple[tuple[str, ...], ...]
    one_way: bool = False


class Rewrites:
    """Learned corrections and synonym groups, both as normalised token runs."""

    def __init__(self) -> None:
        self._learned: dict[tuple[str, ...], tuple[str, ...]] = {}
        self._learned_max = 0
        self._synonyms: dict[tuple[str, ...], list[tuple[str, ...]]] = {}
        self._synonyms_max = 0
        self.groups: tuple[SynonymGroup, ...] = ()

    # -- learned corrections ----------------------------------------------------------

    def learn(self, misspelled: tuple[str, ...], corrected: tuple[str, ...]) -> None:
        if not misspelled or not corrected:
            raise ValueError("both sides must contain a word")
        if len(misspelled) > MAX_LEARNED_WORDS or len(corrected) > MAX_LEARNED_WORDS:
            raise ValueError(f"at most {MAX_LEARNED_WORDS} words per side")
        self._learned[misspelled] = corrected
        self._learned_max = max(self._learned_max, len(misspelled))

    def learned(self) -> dict[tuple[str, ...], tuple[str, ...]]:
        return dict(self._learned)

    # -- synonyms ---------------------------------------------------------------------

    def set_synonyms(self, groups: Iterable[SynonymGroup]) -> None:
        """Replace every synonym group."""
        table: dict[tuple[str, ...], list[tuple[str, ...]]] = {}
        kept = []
        for g in groups:
            phrases = tuple(dict.fromkeys(p for p in g.phrases if p))
            if len(phrases) < 2:
                continue
            kept.append(SynonymGroup(phrases, g.one_way))
            sources = phrases[:1] if g.one_way else phrases
            for src in sources:
                alts = table.setdefault(src, [])
                for p in phrases:
                    if p != src and p not in alts:
                        alts.append(p)
        self._synonyms = table
        self._synonyms_max = max(map(len, table), default=0)
        self.groups = tuple(kept)

    # -- readings ---------------------------------------------------------------------

    def readings(self, tokens: Sequence[str], typing: bool) -> list[Reading]:
        """The readings of a tokenised query, the typed one (after learned corrections)
        first, at most MAX_READINGS."""
        toks, typed, learned, typing = self._correct(list(tokens), typing)
        first = Reading(tuple(toks), tuple(typed), typing, tuple(learned))
        out = [first]
        if not self._synonyms:
            return out
        # Left to right, the longest synonym run at each place; every choice multiplies.
        partial: list[tuple[list[str], list[str | None], bool]] = [([], [], True)]
        i, n = 0, len(toks)
        while i < n:
            alts = None
            for size in range(min(self._synonyms_max, n - i), 0, -1):
                alts = self._synonyms.get(tuple(toks[i : i + size]))
                if alts:
                    break
            if not alts:
                partial = [(t + [toks[i]], y + [typed[i]], same) for t, y, same in partial]
                i += 1
                continue
            run = toks[i : i + size]
            grown = []
            for t, y, same in partial:
                grown.append((t + run, y + typed[i : i + size], same))
                for alt in alts:
                    grown.append((t + list(alt), y + [None] * len(alt), False))
            partial = grown[:MAX_READINGS]
            i += size
        for t, y, same in partial:
            if same:
                continue
            ends_typing = typing and y[-1] is not None and y[-1] == typed[-1]
            out.append(Reading(tuple(t), tuple(y), ends_typing, tuple(learned)))
            if len(out) == MAX_READINGS:
                break
        return out

    def _correct(
        self, tokens: list[str], typing: bool
    ) -> tuple[list[str], list[str | None], list[tuple[str, str]], bool]:
        out: list[str] = []
        typed: list[str | None] = []
        learned: list[tuple[str, str]] = []
        i, n = 0, len(tokens)
        while i < n:
            for size in range(min(self._learned_max, n - i), 0, -1):
                repl = self._learned.get(tuple(tokens[i : i + size]))
                if repl is not None:
                    out.extend(repl)
                    typed.extend([None] * len(repl))
                    learned.append((" ".join(tokens[i : i + size]), " ".join(repl)))
                    if i + size == n:
                        typing = False  # a corrected last word is a whole word
                    i += size
                    break
            else:
                out.append(tokens[i])
                typed.append(tokens[i])
                i += 1
        return out, typed, learned, typing
