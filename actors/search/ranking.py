"""Ranking: which titles a query matches and in what order.

A query is read (see `readings`), each reading's words are resolved by the typo machine
(`typos.Vocabulary.derive`) into *terms*, and a title matches a reading when it holds
every required term (stopwords are optional when the query has other words). The
ranking rules, in order (as Meilisearch's, popularity as the custom rule):

1. **words**: more query words matched first (only optional stopwords can be missing).
2. **typos**: fewer typos in all first (a completion of the word being typed, a
   numeral twin and a synonym cost none); a title needing more than 4 does not match.
3. **proximity and exactness, weighed with popularity**: points, each worth a tenfold
   popularity, added to log10(1 + popularity) (capped at 100):
   - proximity: the matched words stand next to each other in the query's order (0.6,
     in proportion to the pairs that do; a one-word query is a phrase);
   - start: the title starts with the first matched word, a leading article aside (0.2);
   - coverage: the share of the title's words the query matched, a leading article
     aside (0.4 when it matched them all: "the mou" prefers "The Mountain" to "The
     Mountain of Zanul");
   - exact: the matched words are the whole title, whole and in order, a leading
     article aside (0.2);
   - whole word: the word being typed matched a whole title word, not only its
     beginning (0.1).
   So a phrase outranks the same words scattered in a title up to 4x more popular, an
   exact title one up to 3x more popular that starts with the same words, and nothing
   outranks a title thirty times more popular that matches as many words as well.
4. **id**, ascending, to break ties.

Rules 1 and 2 sort titles into *classes* computed with bitsets, a class value
`100000 * words - 1000 * typos`; the score is the class value plus rule 3, rounded to
1e-6 (a keyset cursor carries it). Within a class a page needs only the titles that can
still reach it: documents are numbered most popular first, so a class is walked from its
lowest bit and the walk stops where popularity plus the most points rule 3 can add
(1.5, a factor of 30) no longer reaches the page's last score. The points are kept
small for that reason too: the walk covers the titles within that factor of the
page's last one.
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
PROXIMITY = 0.6
START = 0.2
COVERAGE = 0.4
EXACT = 0.2
WHOLE_WORD = 0.1
MAX_CLOSENESS = PROXIMITY + START + COVERAGE + EXACT + WHOLE_WORD
MAX_LEVEL = 2  # typos a term can cost
MAX_TYPOS = 4  # typos a title may need in all (bounds the classes of a long query)
SCORE_ALL_BELOW = 32  # classes this small (beyond the page) are scored whole

Key = tuple[float, str, int]  # (-score, id, slot): ascending is best first


@attrs.frozen
class Term:
    """One query word resolved: the vocabulary words it stands for and their typos;
    `prefix`, when it is being typed (every word it begins matches at no cost);
    `fuzzy`, the beginnings one edit from it: a title word starting with one matches at
    one typo."""

    typed: str
    derivations: dict[str, int]
    prefix: str | None
    fuzzy: tuple[str, ...]
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
    # title word -> ((term index, typos, partial), ...): every term's words in one table
    lookup: dict[str, tuple[tuple[int, int, bool], ...]] = attrs.field(factory=dict)
    prefix_at: tuple[int, str] | None = None  # (term index, prefix) of the word being typed
    fuzzy_at: tuple[str, ...] = ()  # that word's beginnings one edit away
    optional: tuple[bool, ...] = ()
    sizes: tuple[int, ...] = ()  # per term, about how many titles it holds (to order the work)


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
        term = Term(word, deriv, word if typing else None, tuple(fuzzy),
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
            for v in fuzzy:
                if len(v) <= PREFIX_BITS_LEN:
                    sets[1] |= docs.prefix_bits.get(v, 0)
                else:
                    sets[1] |= docs.union(vocab.completions(v))
        seen = 0
        lv = []
        for s in sets:
            lv.append(s & ~seen)
            seen |= s
        terms.append(term)
        levels.append(tuple(lv))
        anys.append(seen)
    lookup: dict[str, list[tuple[int, int, bool]]] = {}
    prefix_at = None
    fuzzy_at: tuple[str, ...] = ()
    for i, term in enumerate(terms):
        for w, t in term.derivations.items():
            lookup.setdefault(w, []).append((i, t, False))
        if term.prefix is not None:
            prefix_at = (i, term.prefix)
            fuzzy_at = term.fuzzy
    sizes = tuple(10**12 if t.prefix is not None or t.fuzzy else sum(map(docs.frequency, t.derivations))
                  for t in terms)
    return Plan(reading, tuple(terms), tuple(levels), tuple(anys), penalty,
                {w: tuple(v) for w, v in lookup.items()}, prefix_at, fuzzy_at, tuple(t.optional for t in terms),
                sizes)


def classes(alive: int, plans: Sequence[Plan]) -> list[tuple[int, int]]:
    """(class value, bitset) for every non-empty class, best first, disjoint: a title
    belongs to the best class any reading gives it."""
    merged: dict[int, int] = defaultdict(int)
    for p in plans:
        states = {-p.penalty: alive}
        order = sorted(range(len(p.terms)), key=p.sizes.__getitem__)
        for i in order:
            term, levels, any_ = p.terms[i], p.levels[i], p.any[i]
            grown: dict[int, int] = defaultdict(int)
            for v, s in states.items():
                for t, lv in enumerate(levels):
                    if lv and _typos_of(v + p.penalty) + t <= MAX_TYPOS:
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


def _typos_of(value: int) -> int:
    """The typos in a class value 100000 * words - 1000 * typos (typos < 100)."""
    return -value % WORD_POINTS // TYPO_POINTS


def match(toks: tuple[str, ...], p: Plan) -> list[tuple[int, bool, int, str] | None]:
    """Where each term of `p` matches the title words, as (typos, partial, position,
    title word), at its fewest typos, a whole word before a beginning; None where it
    does not match. Among equally good places a term takes the one right after the
    previous term's, else the first after it, else the first."""
    n = len(p.terms)
    level: list[tuple[int, bool] | None] = [None] * n
    places: list[list[int]] = [[] for _ in range(n)]
    lookup = p.lookup
    at, prefix = p.prefix_at if p.prefix_at is not None else (-1, None)
    fuzzy = p.fuzzy_at
    for j, w in enumerate(toks):
        hits = lookup.get(w)
        if hits is not None:
            for i, t, partial in hits:
                b = level[i]
                if b is None or t < b[0] or (t == b[0] and b[1] and not partial):
                    level[i] = (t, partial)
                    places[i] = [j]
                elif b == (t, partial) and places[i][-1] != j:
                    places[i].append(j)
        if prefix is not None and w != prefix:
            if w.startswith(prefix):
                t = 0
            elif fuzzy and w.startswith(fuzzy):
                t = 1
            else:
                continue
            b = level[at]
            if b is None or t < b[0]:
                level[at] = (t, True)
                places[at] = [j]
            elif b == (t, True) and places[at][-1] != j:
                places[at].append(j)
    out: list[tuple[int, bool, int, str] | None] = []
    prev = -1
    for i in range(n):
        b = level[i]
        if b is None:
            out.append(None)
            continue
        ps = places[i]
        if len(ps) == 1:
            j = ps[0]
        elif prev + 1 in ps:
            j = prev + 1
        else:
            j = next((x for x in ps if x > prev), ps[0])
        out.append((b[0], b[1], j, toks[j]))
        prev = j
    return out


def evaluate(toks: tuple[str, ...], p: Plan) -> tuple[int, float, list[tuple[int, bool, int, str] | None]] | None:
    """(class value, proximity and exactness, matches) of a title under a plan; None
    if it does not match."""
    found = match(toks, p)
    value = -p.penalty
    typos = 0
    hits = []
    for m, optional in zip(found, p.optional):
        if m is None:
            if not optional:
                return None
        else:
            value += WORD_POINTS - TYPO_POINTS * m[0]
            typos += m[0]
            hits.append(m)
    if not hits or typos > MAX_TYPOS:
        return None
    if len(hits) == 1:
        adjacent = 1.0
    else:
        pairs = 0
        for a, b in zip(hits, hits[1:]):
            if b[2] == a[2] + 1:
                pairs += 1
        adjacent = pairs / (len(hits) - 1)
    close = PROXIMITY * adjacent
    lead = 1 if len(toks) > 1 and toks[0] in ARTICLES else 0
    first = hits[0][2]
    if first == lead or first == 0:
        close += START
    last = found[-1]
    if last is None or not last[1]:
        close += WHOLE_WORD
    covered = {m[2] for m in hits}
    covered.discard(-1 if not lead else 0)
    share = len(covered) / (len(toks) - lead)
    close += COVERAGE * share
    if share == 1.0 and adjacent == 1.0 and not any(m[1] for m in hits):
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
    return best[1], [None if m is None else Match(*m) for m in best[2]]


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
    count: int | None = None,
) -> list[Key]:
    """The best `want` keys of class `cls` (after `after`), best first.

    Every title of the class scores `value` plus its popularity plus at most `slack`
    more, so a walk in popularity order stops once that can no longer reach the
    `want`-th best score found."""
    if want <= 0:
        return []
    if (cls.bit_count() if count is None else count) <= want + score_all_below:
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
