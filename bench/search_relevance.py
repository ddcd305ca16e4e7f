"""Relevance of `search.query` against tantivy, on the demo catalog, in one run.

    .venv/bin/python bench/search_relevance.py [--titles 100000] [--seed 1] [--targets 150]

(`pip install -e '.[bench]'` brings tantivy.) Builds the deterministic demo catalog,
then both engines over the same titles:

- the index (`actors.search.SearchIndex`), as the gateway runs it;
- tantivy, configured as the original design meant: the normalised title as a text
  field, one fuzzy term per query word (distance 0 up to 2 letters or with a digit, 1
  up to 8, 2 from 9; a swap costs 1), the last word a fuzzy prefix, words required but
  stopwords, BM25; genres and platforms as fast fields for the facet aggregations.

The query set is made from real catalog titles (the famous ones and a sample of the
2,000 most popular, which people search most, and sequels among the 20,000 most
popular for numerals), each changed by one kind of slip from
the issue and typed in full and cut short inside a later word: a swap, a dropped, a
wrong or an extra letter in one word; a slip that makes another real word; a slip in a
three- or four-letter word; a numeral in the other form ("part 2" for "Part II"); and
no slip. Cut short means typed up to inside the last word, at least half of it. A
real-word slip is kept only when, as in the issue's "game of thorns", the words typed
are found together in no title (otherwise the query names another title). A query hits when a title equal to the intended one (normalised) is among the
first three. Printed: the top-3 hit rate of each engine (overall and per kind) and the
latency of each, p50/p99 over every query run with facets (aggregations for tantivy),
CPU time of this thread, with `uptime` beside them.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rapidfuzz.distance import OSA  # noqa: E402

from actors.catalog.demo import FAMOUS, generate  # noqa: E402
from actors.search.index import SearchIndex  # noqa: E402
from actors.search.text import NUMERAL_TWIN, STOPWORDS, normalize  # noqa: E402

LETTERS = "abcdefghijklmnopqrstuvwxyz"
KINDS = ("swap", "drop", "wrong", "extra", "real-word", "short-word", "numeral", "none")


def slip(rng: random.Random, word: str, kind: str) -> str:
    i = rng.randrange(len(word) - 1)
    if kind == "swap":
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    if kind == "drop":
        return word[:i] + word[i + 1 :]
    c = rng.choice([x for x in LETTERS if x != word[i]])
    if kind == "wrong":
        return word[:i] + c + word[i + 1 :]
    return word[:i] + c + word[i:]  # extra


def make_query(rng: random.Random, words: list[str], kind: str, vocab: list[str], by_len: dict,
               together: Callable[[list[str]], bool]) -> list[str] | None:
    """The title's words with one slip of `kind`, or None when the title has no word for it."""
    words = list(words)
    content = [k for k, w in enumerate(words) if w not in STOPWORDS and w.isalpha()]
    if kind in ("swap", "drop", "wrong", "extra"):
        k_s = [k for k in content if len(words[k]) >= 5]
        if not k_s:
            return None
        k = rng.choice(k_s)
        words[k] = slip(rng, words[k], kind)
    elif kind == "short-word":
        k_s = [k for k in content if 3 <= len(words[k]) <= 4]
        if not k_s:
            return None
        k = rng.choice(k_s)
        words[k] = slip(rng, words[k], rng.choice(("swap", "drop", "wrong", "extra")))
    elif kind == "real-word":
        options = []
        for k in content:
            w = words[k]
            if len(w) < 4:
                continue
            for n in range(len(w) - 2, len(w) + 3):
                for v in by_len.get(n, ()):
                    if v != w and v[0] == w[0] and OSA.distance(w, v, score_cutoff=2) <= (1 if len(w) < 6 else 2):
                        options.append((k, v))
        rng.shuffle(options)
        for k, v in options:
            slipped = words[:k] + [v] + words[k + 1 :]
            # As in the "game of thorns": the slip makes another real word, and
            # the words typed are found together in no title.
            if not together(slipped):
                return slipped
        return None
    elif kind == "numeral":
        k_s = [k for k, w in enumerate(words) if w in NUMERAL_TWIN and w not in ("i", "1")]
        if not k_s:
            return None
        k = rng.choice(k_s)
        words[k] = NUMERAL_TWIN[words[k]]
    return words


def cut(rng: random.Random, words: list[str]) -> str | None:
    """The title typed in full but for its last word, cut inside ("pulp f", "the
    godfather pa"): at least half of it, at least one letter, not all of it."""
    last = words[-1]
    if len(words) < 2 or len(last) < 2:
        return None
    return " ".join(words[:-1] + [last[: rng.randint(max(1, len(last) // 2), len(last) - 1)]])


class Tantivy:
    def __init__(self, items) -> None:  # type: ignore[no-untyped-def]
        import tantivy

        sb = tantivy.SchemaBuilder()
        sb.add_text_field("title", stored=False)
        sb.add_text_field("id", stored=True, tokenizer_name="raw")
        sb.add_text_field("genres", stored=False, tokenizer_name="raw", fast=True)
        sb.add_text_field("platforms", stored=False, tokenizer_name="raw", fast=True)
        sb.add_integer_field("year", fast=True)
        sb.add_float_field("rating", fast=True)
        self.schema = sb.build()
        self.tantivy = tantivy
        index = tantivy.Index(self.schema)
        writer = index.writer(heap_size=200_000_000, num_threads=1)
        for it in items:
            writer.add_document(tantivy.Document(
                title=" ".join(normalize(it.title)), id=it.id, genres=list(it.genres) or [""],
                platforms=list(it.platforms) or [""], year=it.year, rating=it.rating))
        writer.commit()
        writer.wait_merging_threads()
        index.reload()
        self.searcher = index.searcher()
        self.agg = {
            "genres": {"terms": {"field": "genres", "size": 100}},
            "platforms": {"terms": {"field": "platforms", "size": 100}},
            "year_min": {"min": {"field": "year"}}, "year_max": {"max": {"field": "year"}},
            "rating_min": {"min": {"field": "rating"}}, "rating_max": {"max": {"field": "rating"}},
        }

    def query(self, text: str):  # type: ignore[no-untyped-def]
        t = self.tantivy
        words = normalize(text)
        prefix_last = bool(text) and text[-1].isalnum()
        content = any(w not in STOPWORDS for w in words)
        parts = []
        for k, w in enumerate(words):
            d = 0 if len(w) <= 2 or not w.isalpha() else 1 if len(w) <= 8 else 2
            q = t.Query.fuzzy_term_query(self.schema, "title", w, distance=d, transposition_cost_one=True,
                                         prefix=prefix_last and k == len(words) - 1)
            occur = t.Occur.Should if content and w in STOPWORDS else t.Occur.Must
            parts.append((occur, q))
        return t.Query.boolean_query(parts) if parts else t.Query.all_query()

    def top(self, text: str, limit: int = 3) -> list[str]:
        hits = self.searcher.search(self.query(text), limit).hits
        return [self.searcher.doc(addr)["id"][0] for _, addr in hits]

    def timed(self, text: str) -> None:
        q = self.query(text)
        self.searcher.search(q, 10)
        self.searcher.aggregate(q, self.agg)


def pct(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(q * len(s)))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--titles", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--targets", type=int, default=150, help="titles the queries are made from")
    ap.add_argument("--repeat", type=int, default=3, help="timing passes over the query set")
    ap.add_argument("--numerals", type=int, default=15, help="titles with a numeral among the 20,000 most popular")
    ap.add_argument("--misses", action="store_true", help="list the queries the index misses")
    args = ap.parse_args()

    items = list(generate(args.titles, seed=args.seed))
    t0 = time.perf_counter()
    ix = SearchIndex(items)
    ix_build = time.perf_counter() - t0
    t0 = time.perf_counter()
    tv = Tantivy(items)
    tv_build = time.perf_counter() - t0
    norm = {it.id: " ".join(normalize(it.title)) for it in items}
    holding: dict[str, set[str]] = defaultdict(set)
    for cid, title in norm.items():
        for w in title.split():
            holding[w].add(cid)

    def together(words: list[str]) -> bool:
        sets = [holding.get(w, set()) for w in words if w not in STOPWORDS] or [set()]
        return bool(set.intersection(*sets))

    vocab = sorted({w for t in norm.values() for w in t.split() if w.isalpha()})
    by_len: dict[int, list[str]] = defaultdict(list)
    for w in vocab:
        by_len[len(w)].append(w)

    rng = random.Random(args.seed)
    popular = sorted(items, key=lambda i: -i.popularity)
    famous = popular[: len(FAMOUS)]
    pool = famous + rng.sample(popular[len(FAMOUS) : 2000], max(0, args.targets - len(FAMOUS)))
    queries: list[tuple[str, str, str]] = []  # (text, intended normalised title, kind)
    hand = [("pulp f", "c000005"), ("the godfather p", "c000014"), ("game of thorns", "c000011"),
            ("das bot", "c000027"), ("fight clob", "c000019"), ("godfather part 2", "c000014")]
    for text, cid in hand:
        queries.append((text, norm[cid], "issue"))
    for it in pool:
        words = normalize(it.title)
        for kind in rng.sample(KINDS, len(KINDS)):
            slipped = make_query(rng, words, kind, vocab, by_len, together)
            if slipped is None:
                continue
            queries.append((" ".join(slipped), norm[it.id], kind))
            short = cut(rng, slipped) if slipped[-1] not in NUMERAL_TWIN else None
            if short is not None:
                queries.append((short, norm[it.id], kind + ", cut"))
            break
    sequels = [it for it in popular[:20_000]
               if any(w in NUMERAL_TWIN and w not in ("i", "1") for w in normalize(it.title))]
    for it in rng.sample(sequels, min(args.numerals, len(sequels))):
        words = make_query(rng, normalize(it.title), "numeral", vocab, by_len, together)
        assert words is not None
        queries.append((" ".join(words), norm[it.id], "numeral"))
        if words[-1] not in NUMERAL_TWIN:  # a cut numeral is another numeral ("ii" of "iii")
            short = cut(rng, words)
            if short is not None:
                queries.append((short, norm[it.id], "numeral, cut"))
    print(f"catalog: {len(items)} titles; build: index {ix_build:.1f} s, tantivy {tv_build:.1f} s")
    print(f"queries: {len(queries)} from {len(pool)} titles and {args.numerals} sequels (+{len(hand)} from the issue); "
          f"uptime:{os.popen('uptime').read().split('load')[-1].strip()}")

    def hit(ids: list[str], want: str) -> bool:
        return any(norm[i] == want for i in ids)

    per_kind: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    misses = []
    for text, want, kind in queries:
        a = hit([i.id for i in ix.query(text, limit=3).items], want)
        b = hit(tv.top(text), want)
        row = per_kind[kind.split(",")[0]]
        row[0] += 1
        row[1] += a
        row[2] += b
        if not a:
            misses.append((text, want, kind, [norm[i.id] for i in ix.query(text, limit=3).items]))
    total = len(queries)
    hits_ix = sum(r[1] for r in per_kind.values())
    hits_tv = sum(r[2] for r in per_kind.values())
    print(f"top-3 hit rate: index {hits_ix}/{total} = {hits_ix / total:.1%}, "
          f"tantivy {hits_tv}/{total} = {hits_tv / total:.1%}")
    for kind, (n, a, b) in sorted(per_kind.items()):
        print(f"  {kind:12} {n:4d}   index {a / n:6.1%}   tantivy {b / n:6.1%}")
    if misses and args.misses:
        print("index misses (query -> intended [kind]: the index's top 3):")
        for t, w, k, got in misses:
            print(f"  {t!r} -> {w!r} [{k}]: {got}")

    ix_ns: list[float] = []
    tv_ns: list[float] = []
    slowest: list[tuple[float, str]] = []
    for _ in range(max(1, args.repeat)):
        for text, _, _ in queries:
            ix._invalidate()  # no cached evaluation: each query costs its full price
            c = time.thread_time_ns()
            ix.query(text, limit=10, include_facets=True)
            ix_ns.append((time.thread_time_ns() - c) / 1e6)
            slowest.append((ix_ns[-1], text))
            c = time.thread_time_ns()
            tv.timed(text)
            tv_ns.append((time.thread_time_ns() - c) / 1e6)
    print(f"query with facets, CPU ms over {len(ix_ns)} runs: index p50 {pct(ix_ns, .5):.2f} p99 {pct(ix_ns, .99):.2f} "
          f"(mean {statistics.mean(ix_ns):.2f}); tantivy p50 {pct(tv_ns, .5):.2f} p99 {pct(tv_ns, .99):.2f} "
          f"(mean {statistics.mean(tv_ns):.2f})")
    if args.misses:
        print("slowest at the index:", sorted(slowest, reverse=True)[:8])


if __name__ == "__main__":
    main()
