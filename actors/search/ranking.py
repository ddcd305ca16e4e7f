"""Ranking: which titles a query matches and in what order.

A query is read (see `readings`), each reading's words are resolved by the typo machine
(`typos.Vocabulary.derive`) into *terms*, and a title matches a reading when it holds
every required term (stopwords are optional when the query has other words). The
ranking rules, in order (as Meilisearch's, popularity as the custom rule):

1. **words**: more query words matched first (only optional stopwords can be missing).
2. **typos**: fewer typos in all first (a completion of the word being typed, a
   numeral twin and a synonym cost none).
3. **proximity**: more of the matched words standing next to each other in the
   query's order first (the share of adjacent pairs; a one-word query is a phrase).
4. **exactness and popularity**, together: exactness points, each worth a tenfold
   popularity, added to log10(1 + popularity) (capped at 100):
   - start: the title starts with the first matched word, a leading article aside (0.2);
   - exact: the matched words are the whole title, in order, a leading article aside
     (0.4);
   - whole word: the word being typed matched a whole title word, not only its
     beginning (0.1).
   So an exact title outranks a title up to ~6x more popular that holds the words as
   well, never one a hundred times more popular.
5. **id**, ascending, to break ties.

Rules 1 and 2 sort titles into *classes* computed with bitsets, a class value
`100000 * words - 1000 * typos`; the score is the class value plus `200 * proximity`
plus rule 4, rounded to 1e-6 (a keyset cursor carries it). Within a class a page needs
only the titles that can still reach it: documents are numbered most popular first, so
a class is walked from its lowest bit and the walk stops where popularity plus the most
the other rules can add no longer reaches the page's last score.
"""

from __future__ import annotations

import bisect
import heapq
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from typing import NamedTuple

import attrs

from actors.search import bits
from actors.search.documents import PREFIX_BITS_LEN, Documents, rank_key
from actors.search.readings import Reading
from actors.search.text import ARTICLES, STOPWORDS
from actors.search.typos import TypoRule, Vocabulary

WORD_POINTS = 100_000
TYPO_POINTS = 1_000
PROXIMITY = 200.0  # above every exactness-and-popularity sum (popularity is capped at 100)
START = 0.2
EXACT = 0.4
WHOLE_WORD = 0.1
MAX_CLOSENESS = PROXIMITY + START + EXACT + WHOLE_WORD
MAX_LEVEL = 2  # typos a term can cost
SCORE_ALL_BELOW = 256  # classes this small (beyond the page) are scored whole

Key = tuple[float, str, int]  # (-score, id, slot): ascending is best first


@attrs.frozen
class Term:
    """One query word resolved: the vocabulary words it stands for and their typos;
    `prefix`, when it is being typed (every word it begins matches at no cost);
    `fuzzy`, words whose beginning is one edit from it (one typo)."""

    typed: str
    derivations: dict[str, int]
    prefix: str | None
    fuzzy: frozenset[str]
    optional: bool


class Match(NamedTuple):
    typos: int
    partial: bool  # only the beginning of the title word matched
    pos: int
    word: str  # the title word


@attrs.frozen
class Plan:
    """A reading resolved against the index: its terms and, per term, the titles that
    hold it at 0, 1 and 2 typos at best (`levels`), and at any (`any`)."""

    reading: Reading
    terms: tuple[Term, ...]
    levels: tuple[tuple[int, ...], ...]
    any: tuple[int, ...]
    penalty: int = 0  # taken off every class value (a widened pass ranks after the first)


def plan(docs: Documents, vocab: Vocabulary, reading: Reading, rule: TypoRule, penalty: int = 0) -> Plan:
    tokens = reading.tokens
    some_content = any(t not in STOPWORDS for t in tokens)
    terms, levels, anys = [], [], []
    last = len(tokens) - 1
    for i, word in enumerate(tokens):
        typing = reading.typing and i == last
        derived = vocab.derive(word, typing=typing, rule=rule)
        deriv: dict[str, int] = {}
        fuzzy = []
        for dv in derived:
            if dv.prefix:
                fuzzy.append(dv.word)
            elif dv.word not in deriv:
                deriv[dv.word] = dv.typos
        term = Term(word, deriv, word if typing else None, frozenset(fuzzy),
                    optional=some_content and word in STOPWORDS)
        by_level: list[list[str]] = [[] for _ in range(MAX_LEVEL + 1)]
        for w, t in deriv.items():
            by_level[t].append(w)
        sets = [docs.union(ws) for ws in by_level]
        if typing:
            if len(word) <= PREFIX_BITS_LEN:
                sets[0] |= docs.prefix_bits.get(word, 0)
            else:
                sets[0] |= docs.union(vocab.completions(word))
            if fuzzy:
                sets[1] |= docs.union(fuzzy)
        seen = 0
        lv = []
        for s in sets:
            lv.append(s & ~seen)
            seen |= s
        terms.append(term)
        levels.append(tuple(lv))
        anys.append(seen)
    return Plan(reading, tuple(terms), tuple(levels), tuple(anys), penalty)


def classes(alive: int, plans: Sequence[Plan]) -> list[tuple[int, int]]:
    """(class value, bitset) for every non-empty class, best first, disjoint: a title
    belongs to the best class any reading gives it."""
    merged: dict[int, int] = defaultdict(int)
    for p in plans:
        states = {-p.penalty: alive}
        order = sorted(range(len(p.terms)), key=lambda i: p.any[i].bit_count())
        for i in order:
            term, levels, any_ = p.terms[i], p.levels[i], p.any[i]
            grown: dict[int, int] = defaultdict(int)
            for v, s in states.items():
                for t, lv in enumerate(levels):
                    if lv:
                        x = s & lv
                        if x:
                            grown[v + WORD_POINTS - TYPO_POINTS * t] |= x
                if term.optional:
                    x = s & ~any_
                    if x:
                        grown[v] |= x
            states = grown
            if not states:
                break
        for v, s in states.items():
            merged[v] |= s
    out = []
    seen = 0
    for v in sorted(merged, reverse=True):
        s = merged[v] & ~seen
        if s:
            out.append((v, s))
            seen |= s
    return out


def match(toks: tuple[str, ...], terms: Sequence[Term]) -> list[Match | None]:
    """Where each term matches the title words, at its fewest typos (a whole word before
    a beginning, then the earliest)."""
    out: list[Match | None] = []
    for term in terms:
        best: Match | None = None
        deriv, prefix, fuzzy = term.derivations, term.prefix, term.fuzzy
        for j, w in enumerate(toks):
            t = deriv.get(w)
            partial = False
            if prefix is not None and w.startswith(prefix) and w != prefix:
                if t is None or t > 0:
                    t, partial = 0, True
            elif t is None:
                if w not in fuzzy:
                    continue
                t, partial = 1, True
            if best is None or (t, partial, j) < (best.typos, best.partial, best.pos):
                best = Match(t, partial, j, w)
        out.append(best)
    return out


def evaluate(toks: tuple[str, ...], p: Plan) -> tuple[int, float, list[Match | None]] | None:
    """(class value, closeness, matches) of a title under a plan; None if it does not match."""
    found = match(toks, p.terms)
    value = -p.penalty
    for term, m in zip(p.terms, found):
        if m is None:
            if not term.optional:
                return None
        else:
            value += WORD_POINTS - TYPO_POINTS * m.typos
    hits = [m for m in found if m is not None]
    if not hits:
        return None
    if len(hits) == 1:
        adjacent = 1.0
    else:
        pairs = sum(1 for a, b in zip(hits, hits[1:]) if b.pos == a.pos + 1)
        adjacent = pairs / (len(hits) - 1)
    close = PROXIMITY * adjacent
    lead = 1 if len(toks) > 1 and toks[0] in ARTICLES else 0
    first = hits[0].pos
    if first == lead or first == 0:
        close += START
    last = found[-1]
    if last is None or not last.partial:
        close += WHOLE_WORD
    if adjacent == 1.0 and not any(m.partial for m in hits):
        covered = {m.pos for m in hits}
        if all(j in covered for j in range(lead, len(toks))):
            close += EXACT
    return value, close, found


def scorer(docs: Documents, plans: Sequence[Plan]) -> Callable[[int], Key]:
    """slot -> (-score, id, slot): the best of its readings."""
    toks_of, pop, items = docs.toks, docs.pop, docs.items
    if len(plans) == 1:
        (p,) = plans

        def score_one(d: int) -> Key:
            r = evaluate(toks_of[d], p)
            assert r is not None
            return (-round(r[0] + r[1] + pop[d], 6), items[d].id, d)  # type: ignore[union-attr]

        return score_one

    def score(d: int) -> Key:
        best = None
        for p in plans:
            r = evaluate(toks_of[d], p)
            if r is not None:
                s = r[0] + r[1]
                if best is None or s > best:
                    best = s
        assert best is not None
        return (-round(best + pop[d], 6), items[d].id, d)  # type: ignore[union-attr]

    return score


def explain(docs: Documents, plans: Sequence[Plan], d: int) -> tuple[Plan, list[Match | None]]:
    """The reading that ranks slot `d` best, and its matches (for highlights and
    corrections)."""
    best = None
    for p in plans:
        r = evaluate(docs.toks[d], p)
        if r is not None and (best is None or r[0] + r[1] > best[0]):
            best = (r[0] + r[1], p, r[2])
    assert best is not None
    return best[1], best[2]


def _in_rank_order(docs: Documents, cls: int) -> Iterator[int]:
    """The slots of `cls`, most popular first."""
    main = bits.iter_ids(cls & ((1 << docs.base) - 1))
    late_bits = cls >> docs.base
    if not late_bits:
        return main
    items = docs.items
    key = lambda s: rank_key(items[s])  # type: ignore[arg-type]  # noqa: E731
    count = late_bits.bit_count()
    if count * 16 < len(docs.late):
        late: Iterator[int] = iter(sorted((docs.base + d for d in bits.to_ids(late_bits)), key=key))
    else:
        mem = bits.membership(cls, len(items))
        late = (d for d in docs.late if mem[d >> 3] >> (d & 7) & 1)
    return heapq.merge(main, late, key=key)


def top(
    docs: Documents,
    cls: int,
    value: float,
    slack: float,
    want: int,
    score: Callable[[int], Key],
    after: Key | None = None,
    *,
    score_all_below: int = SCORE_ALL_BELOW,
) -> list[Key]:
    """The best `want` keys of class `cls` (after `after`), best first.

    Every title of the class scores `value` plus its popularity plus at most `slack`
    more, so a walk in popularity order stops once that can no longer reach the
    `want`-th best score found."""
    if want <= 0:
        return []
    if cls.bit_count() <= want + score_all_below:
        keys = map(score, bits.to_ids(cls))
        if after is not None:
            keys = (k for k in keys if k > after)  # type: ignore[assignment]
        return heapq.nsmallest(want, keys)
    best: list[Key] = []
    pop = docs.pop
    floor = None  # the want-th best score once found
    for d in _in_rank_order(docs, cls):
        if floor is not None and value + slack + pop[d] + 2e-6 < floor:
            break
        k = score(d)
        if after is not None and k <= after:
            continue
        if len(best) < want:
            bisect.insort(best, k)
        elif k < best[-1]:
            bisect.insort(best, k)
            best.pop()
        else:
            continue
        if len(best) == want:
            floor = -best[-1][0]
    return best
