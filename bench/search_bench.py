"""Search index cost against the catalog's size, beside tantivy, on the demo catalog.

    .venv/bin/python bench/search_bench.py [--titles 100000] [--seed 1] [--queries 3000] [--runs 5]

Builds the deterministic demo catalog (not timed), then the index (build time, wall
clock and CPU, and memory as the RSS growth) and tantivy over the same titles, and runs the issue's query mix
through both, with facets (tantivy: the same query with its aggregations): the first
two words of random titles (60 %), broad words ("the", "love", "last", "night", 15 %),
and titles cut inside a word as typed (25 %), a tenth of them with a filter. The mix
runs `--runs` times; each run's p50 and p99 of the CPU time per query (this thread) are
printed, then the median run and the spread, and the load (`uptime`). The index's cache
of evaluated queries is cleared before every query: each costs its full price.
Also printed: autocomplete, and content.list pages (offset and keyset) from memory.
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from actors.catalog.demo import GENRES, generate  # noqa: E402
from actors.paging import OffsetPage  # noqa: E402
from actors.search.actor import list_page  # noqa: E402
from actors.search.index import SearchIndex  # noqa: E402
from search_relevance import pct  # noqa: E402
from loadgen import rss_bytes  # noqa: E402

BROAD = ("the", "love", "last", "night", "the last", "of the", "a", "return")


def rss_mb(pid: int | None = None) -> float:
    return rss_bytes(pid) / 2**20


def workload(items, rng: random.Random, n: int) -> list[tuple[str, dict | None]]:  # type: ignore[no-untyped-def]
    out = []
    for _ in range(n):
        r = rng.random()
        if r < 0.6:
            text = " ".join(rng.choice(items).title.split()[:2])
        elif r < 0.75:
            text = rng.choice(BROAD)
        else:
            title = rng.choice(items).title
            text = title[: rng.randint(1, len(title))]
        filters = None
        if rng.random() < 0.1:
            filters = rng.choice(({"genres": [rng.choice(GENRES)]}, {"year_min": 2010},
                                  {"type": "movie", "rating_min": 6.5}))
        out.append((text, filters))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--titles", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--queries", type=int, default=3000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--no-tantivy", action="store_true")
    args = ap.parse_args()

    items = list(generate(args.titles, seed=args.seed))
    gc.collect()
    rss0 = rss_mb()
    t0, c0 = time.perf_counter(), time.process_time()
    ix = SearchIndex(items)
    build_s, build_cpu = time.perf_counter() - t0, time.process_time() - c0
    gc.collect()
    grown = rss_mb() - rss0
    gc.freeze()  # as the search actor does after a build
    print(f"{args.titles} titles: index build {build_s:.1f} s ({build_cpu:.1f} s CPU), RSS +{grown:.0f} MB, "
          f"vocabulary {ix.vocabulary_size} words")
    tv = None
    if not args.no_tantivy:
        from search_relevance import Tantivy

        t0, c0 = time.perf_counter(), time.process_time()
        tv = Tantivy(items)
        print(f"tantivy build {time.perf_counter() - t0:.1f} s ({time.process_time() - c0:.1f} s CPU, "
              "one writer thread)")

    rng = random.Random(args.seed)
    work = workload(items, rng, args.queries)
    runs_ix: list[tuple[float, float]] = []
    runs_tv: list[tuple[float, float]] = []
    for run in range(args.runs):
        ix_ms, tv_ms = [], []
        for text, filters in work:
            ix._invalidate()
            c = time.thread_time_ns()
            ix.query(text, filters, limit=10, include_facets=True)
            ix_ms.append((time.thread_time_ns() - c) / 1e6)
            if tv is not None:
                c = time.thread_time_ns()
                tv.timed(text)
                tv_ms.append((time.thread_time_ns() - c) / 1e6)
        runs_ix.append((pct(ix_ms, 0.5), pct(ix_ms, 0.99)))
        line = f"run {run + 1}: index p50 {runs_ix[-1][0]:.2f} p99 {runs_ix[-1][1]:.2f} ms"
        if tv_ms:
            runs_tv.append((pct(tv_ms, 0.5), pct(tv_ms, 0.99)))
            line += f"; tantivy p50 {runs_tv[-1][0]:.2f} p99 {runs_tv[-1][1]:.2f} ms"
        print(line, flush=True)

    def summary(name: str, runs: list[tuple[float, float]]) -> str:
        p50s, p99s = [r[0] for r in runs], [r[1] for r in runs]
        return (f"{name}: p50 {statistics.median(p50s):.2f} ms ({min(p50s):.2f}-{max(p50s):.2f}), "
                f"p99 {statistics.median(p99s):.2f} ms ({min(p99s):.2f}-{max(p99s):.2f})")

    print(f"query with facets, CPU per query, median of {args.runs} runs (spread):")
    print("  " + summary("index", runs_ix))
    if runs_tv:
        print("  " + summary("tantivy", runs_tv))

    ac = [(t[: rng.randint(1, len(t))], 10) for t, _ in work[:1000]]
    ac_ms = []
    for q, limit in ac:
        ix._invalidate()
        c = time.thread_time_ns()
        ix.autocomplete(q, limit)
        ac_ms.append((time.thread_time_ns() - c) / 1e6)
    print(f"autocomplete: p50 {pct(ac_ms, .5):.2f} p99 {pct(ac_ms, .99):.2f} ms")
    pages = []
    n = len(ix)
    for _ in range(1000):
        sort = rng.choice(("popularity", "title", "year"))
        c = time.thread_time_ns()
        list_page(ix, OffsetPage(rng.randrange(n // 20) + 1, 20), sort)
        pages.append((time.thread_time_ns() - c) / 1e6)
    print(f"content.list page of 20 as JSON (any page, first listing): p50 {pct(pages, .5):.3f} "
          f"p99 {pct(pages, .99):.3f} ms")
    print(f"load:{os.popen('uptime').read().split('load')[-1].strip()}")


if __name__ == "__main__":
    main()
