"""Search index benchmark on the demo catalog.

    .venv/bin/python bench/search_bench.py [--titles 100000] [--seed 1] [--queries 5000]

Builds the deterministic demo catalog, then the index (time, memory as the RSS growth
and, with --tracemalloc, Python allocations), and runs a fixed, seeded query mix:

- search: queries drawn Zipf-wise from a pool made of catalog titles (whole titles,
  their first words, one distinctive word; some with filters), a share of them
  misspelled, all with facets. Run twice: with the result cache (the default; Zipf
  traffic repeats queries, and writes clear it) and without.
- autocomplete: the same queries cut at a random length, as typed.
- correction alone: `correct()` on the misspelled queries.

The brute-force baselines run in the same process on fewer queries: rapidfuzz WRatio
over every title (search), Damerau-Levenshtein (OSA) over the whole vocabulary per
word (correction), a prefix scan over every normalised title (autocomplete). Printed:
p50/p99 per operation, the baseline's p50, the ratio, and recall@10 of the intended
title on misspelled whole-title queries for the index and for rapidfuzz.
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rapidfuzz import fuzz, process  # noqa: E402
from rapidfuzz.distance import OSA  # noqa: E402

from actors.catalog.demo import GENRES, generate  # noqa: E402
from actors.search.index import SearchIndex  # noqa: E402
from actors.search.text import STOPWORDS, normalize  # noqa: E402


def rss_mb() -> float:
    try:
        with open(f"/proc/{os.getpid()}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def typo(rng: random.Random, word: str) -> str:
    """One typing slip in `word`, of a kind the index's rule for its length accepts."""
    n = len(word)
    i = rng.randrange(n - 1)
    if n <= 4:
        kind = "swap"
    else:
        kind = rng.choice(("swap", "drop", "sub", "add"))
    if kind == "swap":
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    if kind == "drop":
        return word[:i] + word[i + 1 :]
    c = rng.choice("abcdefghijklmnopqrstuvwxyz")
    if kind == "sub":
        return word[:i] + c + word[i + 1 :]
    return word[:i] + c + word[i:]


def make_workload(items, rng: random.Random, pool_size: int, draws: int, typo_share: float):
    """(text, filters, intended id, misspelled) drawn Zipf-wise from a pool of queries."""
    picks = rng.sample(items, pool_size)
    picks.sort(key=lambda i: -i.popularity)  # popular titles are searched more
    pool = []
    for it in picks:
        words = normalize(it.title)
        content = [w for w in words if w not in STOPWORDS] or words
        form = rng.random()
        if form < 0.45:
            text = " ".join(words)
        elif form < 0.75:
            text = " ".join(words[: rng.randint(1, min(2, len(words)))])
        else:
            text = rng.choice(content)
        filters = None
        if rng.random() < 0.15:
            filters = rng.choice(
                ({"genres": [rng.choice(GENRES)]}, {"year_min": 2010}, {"type": "movie", "rating_min": 6.5})
            )
        misspelled = False
        if rng.random() < typo_share:
            toks = text.split()
            candidates = [k for k, w in enumerate(toks) if len(w) >= 3 and w.isalpha() and w not in STOPWORDS]
            if candidates:
                k = rng.choice(candidates)
                toks[k] = typo(rng, toks[k])
                text = " ".join(toks)
                misspelled = True
        pool.append((text, filters, it.id if form < 0.45 else None, misspelled))
    weights = [1 / (r + 1) for r in range(len(pool))]
    return rng.choices(pool, weights, k=draws)


def pct(samples_ns: list[int], q: float) -> float:
    s = sorted(samples_ns)
    return s[min(len(s) - 1, int(q * len(s)))] / 1e6


CPU: dict[int, list[int]] = {}  # id(wall samples) -> CPU-time samples


def timed(fn, args_list, keep=None):
    """Wall-clock samples (and, kept aside, this thread's CPU time: on a shared noisy
    machine the CPU time shows what the code costs, the wall clock what a caller saw).
    `keep(result)` picks what to keep of each result (holding them all would grow the
    heap and the collector's work while measuring)."""
    out, cpu, results = [], [], []
    for args in args_list:
        c = time.thread_time_ns()
        t = time.perf_counter_ns()
        r = fn(*args)
        out.append(time.perf_counter_ns() - t)
        cpu.append(time.thread_time_ns() - c)
        if keep is not None:
            results.append(keep(r))
    CPU[id(out)] = cpu
    return out, results


class GcPauses:
    """Collector pauses while measuring (the index holds millions of objects)."""

    def __init__(self) -> None:
        self.pauses: list[int] = []
        self._t = 0

    def __call__(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._t = time.perf_counter_ns()
        else:
            self.pauses.append(time.perf_counter_ns() - self._t)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--titles", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--queries", type=int, default=5000)
    ap.add_argument("--pool", type=int, default=2000, help="distinct queries the mix draws from")
    ap.add_argument("--typos", type=float, default=0.2, help="share of misspelled queries")
    ap.add_argument("--baseline-queries", type=int, default=40)
    ap.add_argument("--tracemalloc", action="store_true", help="also count Python allocations (slow build)")
    ap.add_argument("--freeze", action="store_true", help="gc.freeze() after the build, as a server would")
    args = ap.parse_args()

    t0 = time.perf_counter()
    items = list(generate(args.titles, seed=args.seed))
    gen_s = time.perf_counter() - t0
    gc.collect()
    rss0 = rss_mb()
    t0 = time.perf_counter()
    ix = SearchIndex(items)
    build_s = time.perf_counter() - t0
    gc.collect()
    rss1 = rss_mb()
    traced = None
    if args.tracemalloc:
        del ix
        gc.collect()
        tracemalloc.start()
        ix = SearchIndex(items)
        traced = tracemalloc.get_traced_memory()[0] / 1e6
        tracemalloc.stop()
    print(f"catalog: {len(items)} titles generated in {gen_s:.2f} s; vocabulary {ix.vocabulary_size} words")
    mem = f"RSS +{rss1 - rss0:.0f} MB"
    if traced is not None:
        mem += f", tracemalloc {traced:.0f} MB"
    print(f"index build: {build_s:.2f} s, {mem}")

    rng = random.Random(args.seed)
    work = make_workload(items, rng, args.pool, args.queries, args.typos)
    n_typo = sum(1 for w in work if w[3])
    print(f"query mix: {len(work)} queries from a pool of {args.pool}, {n_typo} misspelled, "
          f"{sum(1 for w in work if w[1])} filtered")

    # warm-up (imports, first allocations), then measure
    for text, filters, _, _ in work[:50]:
        ix.query(text, filters, include_facets=True)
    rows = []
    q_args = [(text, filters) for text, filters, _, _ in work]

    def search(text, filters):
        return ix.query(text, filters, limit=10, include_facets=True)

    if args.freeze:
        gc.freeze()  # what a server does after building: the index is never garbage
    pauses = GcPauses()
    gc.callbacks.append(pauses)
    ix._invalidate()
    cached_ns, corrected_flags = timed(search, q_args, keep=lambda r: r.corrected_query is not None)
    ix.cache_entries = 0
    ix._invalidate()
    uncached_ns, _ = timed(search, q_args)
    ix.cache_entries = 128
    corrected = sum(corrected_flags)

    ac_args = []
    for text, _, _, _ in work:
        cut = rng.randint(1, len(text))
        ac_args.append((text[:cut], 10))
    ac_ns, _ = timed(ix.autocomplete, ac_args)

    typo_texts = [(w[0],) for w in work if w[3]]
    corr_ns, _ = timed(ix.correct, typo_texts)
    gc.callbacks.remove(pauses)

    # Brute-force baselines, fewer iterations.
    titles = [i.title for i in items]
    norm_titles = [" " + " ".join(normalize(t)) for t in titles]
    base_q = [w for w in work[: args.baseline_queries]]
    base_search_ns, _ = timed(
        lambda t: process.extract(t, titles, scorer=fuzz.WRatio, limit=10, processor=None), [(w[0],) for w in base_q]
    )
    vocab = sorted({w for t in norm_titles for w in t.split()})

    def brute_correct(text):
        out = []
        for w in normalize(text):
            best = process.extractOne(w, vocab, scorer=OSA.distance, score_cutoff=2)
            out.append(best[0] if best else w)
        return " ".join(out)

    base_corr_ns, _ = timed(brute_correct, typo_texts[: args.baseline_queries])
    pops = [i.popularity for i in items]

    def brute_prefix(prefix, limit):
        p = " " + " ".join(normalize(prefix))
        hits = [k for k, t in enumerate(norm_titles) if p in t]
        hits.sort(key=lambda k: -pops[k])
        return hits[:limit]

    base_ac_ns, _ = timed(brute_prefix, ac_args[: args.baseline_queries])

    # Quality on misspelled whole titles: is the intended title in the top 10?
    checks = [w for w in work if w[3] and w[2]][:200]
    hit_ix = sum(1 for w in checks if any(i.id == w[2] for i in ix.query(w[0], None, limit=10).items))
    rf_checks = checks[: args.baseline_queries]
    id_of = [i.id for i in items]
    hit_rf = sum(
        1
        for w in rf_checks
        if any(id_of[k] == w[2] for _, _, k in process.extract(w[0], norm_titles, scorer=fuzz.WRatio, limit=10))
    )

    def row(name, ns, base_ns):
        p50, p99 = pct(ns, 0.5), pct(ns, 0.99)
        cpu = CPU[id(ns)]
        c50, c99 = pct(cpu, 0.5), pct(cpu, 0.99)
        b50 = pct(base_ns, 0.5) if base_ns else None
        ratio = f"{b50 / p50:9.0f}x" if b50 else ""
        base = f"{b50:10.2f}" if b50 else ""
        rows.append(f"{name:28} {len(ns):5d} {p50:8.3f} {p99:8.3f} {c50:8.3f} {c99:8.3f} {base:>10} {ratio:>8}")

    row("search+facets (cache on)", cached_ns, base_search_ns)
    row("search+facets (cache off)", uncached_ns, base_search_ns)
    row("autocomplete", ac_ns, base_ac_ns)
    row("correction alone", corr_ns, base_corr_ns)
    print(f"{'operation (ms)':28} {'n':>5} {'p50':>8} {'p99':>8} {'cpu p50':>8} {'cpu p99':>8} "
          f"{'brute p50':>10} {'ratio':>8}")
    print("\n".join(rows))
    print(f"answered with a corrected_query: {corrected} of {len(corrected_flags)}")
    longest = max(pauses.pauses, default=0) / 1e6
    print(f"garbage collections while measuring: {len(pauses.pauses)}, longest {longest:.2f} ms"
          f"{' (gc.freeze() after build)' if args.freeze else ''}")
    print(f"recall@10 on misspelled whole titles: index {hit_ix}/{len(checks)}, "
          f"rapidfuzz WRatio {hit_rf}/{len(rf_checks)}")


if __name__ == "__main__":
    main()
