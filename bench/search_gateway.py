"""content.list and search.query through the gateway: server CPU per request against
system.ping on the same server, in the same run.

    .venv/bin/python bench/search_gateway.py [--titles 100000] [--rounds 5] [--seconds 2] [--connections 16]

Imports the deterministic demo catalog into a fresh SQLite database, starts a gateway
process on it, waits until its index answers, then runs rounds; each round runs, one
after the other, closed loops of `--connections` WebSocket clients for `--seconds`
each: `system.ping`; `content.list` (a page of 20 at a random offset, or a first keyset
page, any sort); `search.query` with facets on a realistic mix (queries drawn
Zipf-wise from a pool of 5,000 made as bench/search_bench.py makes them: first two
words of titles, broad words, titles cut as typed, a tenth with a filter). The
server's CPU time (utime + stime from /proc/<pid>/stat) over each loop, divided by the
requests answered, is its CPU per request; each method's ratio to ping is taken within
its round. Before the rounds, `--warmup` seconds of the same search traffic and as many
of the same listing traffic: a server in service has seen the head of the query
distribution (its answers are cached until a write) and has listed its catalog (an
item's JSON is made the first time it is listed in an order), so the rounds measure
the steady state; the warm-up's own cost per request is printed too. Printed per round
and as the median of the rounds with their spread, beside the load (`uptime`).
Targets: content.list <= 2x ping, search.query <= 3x ping.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson
import trio
from trio_websocket import open_websocket_url

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from loadgen import LISTENING, Server, closed_loop, cpu_seconds  # noqa: E402
from search_bench import rss_mb, workload  # noqa: E402

from actors.catalog.demo import generate  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def start_gateway(data: str) -> Server:
    """A gateway process on `data`, once it listens (loadgen's Server waits 30 s at most:
    a large catalog's index is built before the gateway listens)."""
    server = Server.__new__(Server)
    server.proc = subprocess.Popen([sys.executable, "main.py", "serve", "--port", "0", "--admin-port", "0",
                                    "--data-dir", data], cwd=ROOT, stderr=subprocess.PIPE,
                                   stdout=subprocess.DEVNULL, text=True,
                                   # As loadgen.gateway: a closed loop sends far faster on one
                                   # connection than the default rate limit lets an app.
                                   env={**os.environ, "MG_LOG_LEVEL": "info", "MG_RATE_LIMIT": "1000000000"})
    server.lines = []
    for line in server.proc.stderr:  # type: ignore[union-attr]
        server.lines.append(line)
        m = LISTENING.search(line)
        if m:
            server.url = f"ws://{m.group(1)}:{m.group(2)}/v1"
            return server
    raise RuntimeError("gateway exited: " + "".join(server.lines[-20:]))


def frames(method: str, titles: int, seed: int, pool_size: int):  # type: ignore[no-untyped-def]
    rng = random.Random(seed)
    if method == "system.ping":
        return lambda n: orjson.dumps({"jsonrpc": "2.0", "id": n, "method": "system.ping"})
    if method == "content.list":
        def listing(n: int) -> bytes:
            sort = rng.choice(("popularity", "title", "year"))
            params = ({"page": rng.randrange(1, titles // 20), "page_size": 20, "sort": sort}
                      if rng.random() < 0.7 else {"limit": 20, "sort": sort})
            return orjson.dumps({"jsonrpc": "2.0", "id": n, "method": "content.list", "params": params})
        return listing
    items = list(generate(titles, seed=seed))
    pool = workload(items, random.Random(seed), pool_size)
    weights = [1 / (r + 1) for r in range(len(pool))]

    def query(n: int) -> bytes:
        text, filters = rng.choices(pool, weights)[0]
        params = {"query": text, "include_facets": True, "limit": 10, **({"filters": filters} if filters else {})}
        return orjson.dumps({"jsonrpc": "2.0", "id": n, "method": "search.query", "params": params})
    return query


async def ready(url: str) -> None:
    with trio.fail_after(300):
        while True:
            try:
                async with open_websocket_url(url) as ws:
                    await ws.send_message(orjson.dumps({"jsonrpc": "2.0", "id": 1, "method": "search.query",
                                                        "params": {"query": "the"}}).decode())
                    if orjson.loads(await ws.get_message())["result"]["total"]:
                        return
            except Exception:  # noqa: BLE001 - not up yet
                pass
            await trio.sleep(0.5)


async def run(args: argparse.Namespace, server: Server) -> None:
    methods = ("system.ping", "content.list", "search.query")
    makers = {m: frames(m, args.titles, args.seed, args.pool) for m in methods}
    if args.warmup:
        # A server in service has seen the head of the query distribution already, and
        # listed its catalog.
        for m in ("search.query", "content.list"):
            before = cpu_seconds(server.proc.pid)
            stats = await closed_loop(server.url, args.connections, args.warmup, makers[m])
            used = cpu_seconds(server.proc.pid) - before
            print(f"warm-up: {m} {used / max(1, stats['count']) * 1e6:.0f} us per request "
                  f"over {stats['count']} requests", flush=True)
    ratios: dict[str, list[float]] = {m: [] for m in methods[1:]}
    per_req: dict[str, list[float]] = {m: [] for m in methods}
    for r in range(args.rounds):
        cost = {}
        for m in methods:
            before = cpu_seconds(server.proc.pid)
            stats = await closed_loop(server.url, args.connections, args.seconds, makers[m])
            used = cpu_seconds(server.proc.pid) - before
            cost[m] = used / max(1, stats["count"]) * 1e6
            per_req[m].append(cost[m])
        line = f"round {r + 1}: " + ", ".join(f"{m} {cost[m]:.0f} us" for m in methods)
        for m in methods[1:]:
            ratios[m].append(cost[m] / cost["system.ping"])
            line += f"; {m}/ping {ratios[m][-1]:.2f}"
        print(line, flush=True)
    print(f"server CPU per request, median of {args.rounds} rounds (spread):")
    for m in methods:
        print(f"  {m:14} {statistics.median(per_req[m]):7.0f} us ({min(per_req[m]):.0f}-{max(per_req[m]):.0f})")
    for m in methods[1:]:
        print(f"  {m}/ping {statistics.median(ratios[m]):.2f} ({min(ratios[m]):.2f}-{max(ratios[m]):.2f})")
    print(f"load:{os.popen('uptime').read().split('load')[-1].strip()}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--titles", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--pool", type=int, default=5000, help="distinct search queries the mix draws from")
    ap.add_argument("--data-dir", help="a data dir holding the demo catalog already (skips the import)")
    ap.add_argument("--warmup", type=float, default=10.0,
                    help="seconds of search traffic, then of listing traffic, before the rounds")
    args = ap.parse_args()
    data = args.data_dir
    if data is None:
        data = tempfile.mkdtemp(prefix="mg-search-bench-")
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "main.py", "demo-catalog", "--titles", str(args.titles), "--seed",
                        str(args.seed), "--data-dir", data], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
        print(f"demo catalog of {args.titles} titles imported in {time.perf_counter() - t0:.0f} s into {data}")
    started = time.perf_counter()
    server = start_gateway(data)
    try:
        trio.run(ready, server.url)
        print(f"gateway answering searches {time.perf_counter() - started:.0f} s after start; "
              f"RSS {rss_mb(server.proc.pid):.0f} MB", flush=True)
        trio.run(run, args, server)
    finally:
        server.stop()


if __name__ == "__main__":
    main()
