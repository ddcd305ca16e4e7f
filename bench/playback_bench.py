"""Playback positions streamed as notifications: the gateway vs servers that read and
drop every frame, and vs a bare trio-websocket echo.

Many connections each send `playback.position` notifications as fast as the socket
takes them (open loop: no waiting for answers). Same client, same frames, same run,
several rounds, interleaved. The baselines:

- drop servers (bench/drop_server.py), which read every message and drop it: on
  trio-websocket, and `lean` (the `websockets` sans-I/O protocol on trio streams, the
  frame layer of the gateway's transport alone). Counted the same way as the gateway:
  messages taken per second on the server's side, read from the server at the start
  and end of the window. These are the honest floor for one-way traffic.
- the echo server, which sends every frame back; its echoes are read and counted by a
  second task per connection. It does twice the work per message and its client must
  read everything, so it is slower than the gateway and flatters it (the README once
  quoted the gateway at 1.74x this echo). Kept for comparison with older figures.

Reports, as medians over the rounds:

- updates/s the server took in a steady window (gateway: its `mg_playback_updates`
  counter; drop servers: their own counts; echo: echoes received), and the ratios
  of the gateway to each;
- the lag until an update is durable: the server's own histogram (arrival to commit of
  the oldest update in each written row: about the flush interval by design) and a
  client-side probe (a position sent on a separate session at a random moment, then
  the SQLite file polled until it holds it; an upper bound, as the busy client's own
  scheduling delay is in it);
- database statements per 1,000 updates in the window (target <= 10).

    .venv/bin/python bench/playback_bench.py [--connections 50] [--seconds 5] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import random
import re
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson
import trio
from trio_websocket import ConnectionClosed, open_websocket_url

from loadgen import ROOT, Server, cpu_seconds, echo_server, median

sys.path.insert(0, str(ROOT))
from mgclient import http_get  # noqa: E402

HOUR = 3_600_000
PASSWORD = "bench password 1234"


def prepare(data: Path, users: int, films: int) -> list[str]:
    """A catalog and `users` accounts, made with the CLI before the gateway starts."""
    catalog = data / "films.jsonl"
    data.mkdir(parents=True, exist_ok=True)
    catalog.write_bytes(b"\n".join(orjson.dumps({"id": f"m{i:04d}", "title": f"Film {i}", "type": "movie",
                                                  "year": 2000 + i % 20, "duration_ms": HOUR})
                                   for i in range(films)) + b"\n")
    main = [sys.executable, str(ROOT / "main.py")]
    subprocess.run([*main, "import-catalog", str(catalog), "--data-dir", str(data)], cwd=ROOT, check=True,
                   capture_output=True)
    emails = [f"viewer{i}@bench.example" for i in range(users)]
    procs = [subprocess.Popen([*main, "create-user", "--data-dir", str(data), "--email", e, "--password", PASSWORD],
                              cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for e in emails[:1]]
    procs[0].wait()  # the first one migrates; the rest may run side by side
    procs += [subprocess.Popen([*main, "create-user", "--data-dir", str(data), "--email", e, "--password", PASSWORD],
                               cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for e in emails[1:]]
    for p in procs:
        if p.wait() != 0:
            raise RuntimeError(p.stderr.read().decode())  # type: ignore[union-attr]
    return emails


async def rpc(ws: Any, method: str, params: Any) -> Any:
    await ws.send_message(orjson.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).decode())
    while True:
        answer = orjson.loads(await ws.get_message())
        if answer.get("id") == 1:
            if "error" in answer:
                raise RuntimeError(answer["error"])
            return answer["result"]


async def login(url: str, email: str) -> dict:
    async with open_websocket_url(url) as ws:
        return await rpc(ws, "auth.login", {"email": email, "password": PASSWORD})


async def scrape(admin: str) -> dict[str, float]:
    values: dict[str, float] = {}
    for line in (await http_get(admin + "/metrics"))[1].decode().splitlines():
        if line.startswith(("mg_playback_", 'mg_rpc_requests_total{method="system.ping"')):
            name, value = line.rsplit(" ", 1)
            values[name] = float(value)
    return values


PINGS = 'mg_rpc_requests_total{method="system.ping",outcome="ok"}'


def lag_quantiles(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """p50/p99/mean of the durable-lag histogram between two scrapes (bucket upper bounds)."""
    prefix = "mg_playback_durable_lag_seconds"
    buckets = sorted(
        (float(re.search(r'le="([^"]+)"', k).group(1)), v - before.get(k, 0.0))  # type: ignore[union-attr]
        for k, v in after.items() if k.startswith(prefix + "_bucket"))
    count = after[prefix + "_count"] - before.get(prefix + "_count", 0.0)
    total = after[prefix + "_sum"] - before.get(prefix + "_sum", 0.0)

    def q(p: float) -> float:
        for bound, cumulative in buckets:
            if cumulative >= p * count:
                return bound
        return float("inf")

    return {"lag_p50_le": q(0.5), "lag_p99_le": q(0.99), "lag_mean": total / count if count else float("nan")}


class Round:
    def __init__(self, connections: int, seconds: float, warmup: float) -> None:
        self.connections = connections
        self.seconds = seconds
        self.warmup = warmup
        self.sent = 0
        self.echoed = 0
        self.stop = trio.Event()


async def stream(url: str, rnd: Round, *, mode: str, tokens: list[str] | None = None,
                 admin: str | None = None, db: Path | None = None, probe_token: str | None = None,
                 probe_user: str | None = None, pid: int | None = None) -> dict[str, float]:
    """One round against one server: open-loop senders, a steady window, the counts.

    `mode`: "echo" (the echo server; echoes drained and counted), "drop" (a drop
    server; its own count), "position" (the gateway, playback.position notifications)
    or "ping" (the gateway, system.ping notifications: the transport and JSON-RPC
    alone, a control). With `pid`, `cpu_us` is that server's CPU time in the window
    per message it took."""
    echo = mode == "echo"
    ready = [0]
    all_ready, go = trio.Event(), trio.Event()
    lags: list[float] = []

    async def connection(i: int) -> None:
        headers = [("Authorization", f"Bearer {tokens[i % len(tokens)]}")] if tokens else None
        async with open_websocket_url(url, extra_headers=headers, message_queue_size=1024) as ws:
            sid = "s%06d" % i
            if mode == "position":
                sid = (await rpc(ws, "playback.start", {"content_id": f"m{i:04d}"}))["session_id"]
            head = '{"jsonrpc":"2.0","method":"playback.position","params":{"session_id":"%s","position_ms":' % sid
            tail = "}}"
            if mode == "ping":  # about as long as a position frame; extra members are ignored
                head = '{"jsonrpc":"2.0","method":"system.ping","_pad":"' + "x" * (len(sid) + 40) + '","n":'
                tail = "}"
            ready[0] += 1
            if ready[0] == rnd.connections:
                all_ready.set()
            await go.wait()
            async with trio.open_nursery() as nursery:
                if echo:
                    async def drain() -> None:
                        try:
                            while True:
                                await ws.get_message()
                                rnd.echoed += 1
                        except ConnectionClosed:
                            pass
                    nursery.start_soon(drain)
                n = 0
                while not rnd.stop.is_set():
                    n += 1
                    await ws.send_message(head + str(n % HOUR) + tail)
                rnd.sent += n
                nursery.cancel_scope.cancel()

    async def probe() -> None:
        """Client-side durability lag: send a position, poll the database until it is there."""
        assert db is not None and probe_token is not None
        headers = [("Authorization", f"Bearer {probe_token}")]
        reader = sqlite3.connect(f"file:{db}?mode=ro", uri=True, check_same_thread=False)
        async with open_websocket_url(url, extra_headers=headers) as ws:
            sid = (await rpc(ws, "playback.start", {"content_id": f"m{rnd.connections:04d}"}))["session_id"]
            await go.wait()
            await trio.sleep(rnd.warmup)
            while not rnd.stop.is_set():
                position = random.randrange(1, HOUR)  # unlike any earlier one (rounds reuse the row)
                await ws.send_message(orjson.dumps({"jsonrpc": "2.0", "method": "playback.position", "params": {
                    "session_id": sid, "position_ms": position}}).decode())
                sent = time.perf_counter()
                while not rnd.stop.is_set():
                    row = await trio.to_thread.run_sync(lambda: reader.execute(
                        "SELECT position_ms FROM playback_positions WHERE user_id = ? AND content_id = ?",
                        (probe_user, f"m{rnd.connections:04d}")).fetchone())
                    if row and row[0] == position:
                        lags.append(time.perf_counter() - sent)
                        break
                    await trio.sleep(0.005)
                await trio.sleep(random.uniform(0.05, 1.0))  # not in step with the flushes
        reader.close()

    result: dict[str, float] = {}
    async with trio.open_nursery() as nursery:
        for i in range(rnd.connections):
            nursery.start_soon(connection, i)
        if db is not None and mode == "position":
            nursery.start_soon(probe)
        await all_ready.wait()
        go.set()
        await trio.sleep(rnd.warmup)
        t0 = time.perf_counter()
        c0 = cpu_seconds(pid) if pid else 0.0
        m0 = await scrape(admin) if admin else {}
        e0 = await dropped(url) if mode == "drop" else rnd.echoed
        await trio.sleep(rnd.seconds)
        m1 = await scrape(admin) if admin else {}
        e1 = await dropped(url) if mode == "drop" else rnd.echoed
        c1 = cpu_seconds(pid) if pid else 0.0
        elapsed = time.perf_counter() - t0
        rnd.stop.set()
    if mode == "ping":
        result["rate"] = (m1[PINGS] - m0.get(PINGS, 0.0)) / elapsed
    elif mode == "position":
        updates = m1["mg_playback_updates_total"] - m0["mg_playback_updates_total"]
        statements = m1["mg_playback_db_statements_total"] - m0["mg_playback_db_statements_total"]
        result.update(rate=updates / elapsed, statements_per_1000=1000 * statements / updates,
                      flushes=m1["mg_playback_flushes_total"] - m0["mg_playback_flushes_total"],
                      **lag_quantiles(m0, m1))
        if lags:
            lags.sort()
            result.update(probe_lag_p50=lags[len(lags) // 2], probe_lag_max=lags[-1], probes=len(lags))
    else:
        result["rate"] = (e1 - e0) / elapsed
    if pid and result.get("rate"):
        result["cpu_us"] = (c1 - c0) / (result["rate"] * elapsed) * 1e6
    return result


async def dropped(url: str) -> float:
    """The messages a drop server has taken so far, as it counts them."""
    async with open_websocket_url(url) as ws:
        await ws.send_message("count")
        return float(await ws.get_message())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--connections", type=int, default=50)
    ap.add_argument("--users", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--warmup", type=float, default=1.0)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--flush-interval", type=float, default=1.0)
    args = ap.parse_args()

    data = Path(tempfile.mkdtemp(prefix="mg-playback-bench-"))
    emails = prepare(data, args.users, args.connections + 1)  # the last one is the probe's
    gw = Server([sys.executable, "main.py", "serve", "--port", "0", "--admin-port", "0", "--data-dir", str(data),
                 "--playback-flush-interval", str(args.flush_interval)],
                # The bench sends far faster per connection than the default rate limit (100/s) lets
                # through: past it notifications are dropped, and it would measure the limit.
                env={"MG_LOG_LEVEL": os.environ.get("MG_LOG_LEVEL", "info"), "MG_RATE_LIMIT": "0"})
    echo = echo_server()
    drops = {stack: Server([sys.executable, "bench/drop_server.py", stack, "0"]) for stack in ("trio-websocket", "lean")}
    try:
        grants = trio.run(lambda: _logins(gw.url, emails))
        tokens = [g["access_token"] for g in grants]
        print("load:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip(), flush=True)
        print(f"{args.connections} connections, {args.users} users, flush interval {args.flush_interval}s, "
              f"{args.seconds}s windows after {args.warmup}s warm-up", flush=True)
        e_runs, g_runs, p_runs = [], [], []
        d_runs: dict[str, list[dict[str, float]]] = {stack: [] for stack in drops}
        for r in range(args.rounds):
            for stack, server in drops.items():
                d_runs[stack].append(trio.run(lambda: stream(
                    server.url, Round(args.connections, args.seconds, args.warmup), mode="drop",
                    pid=server.proc.pid)))
            e = trio.run(lambda: stream(echo.url, Round(args.connections, args.seconds, args.warmup), mode="echo",
                                        pid=echo.proc.pid))
            g = trio.run(lambda: stream(gw.url, Round(args.connections, args.seconds, args.warmup), mode="position",
                                        tokens=tokens, admin=gw.admin, db=data / "gateway.db",
                                        probe_token=tokens[0], probe_user=grants[0]["user_id"], pid=gw.proc.pid))
            p = trio.run(lambda: stream(gw.url, Round(args.connections, args.seconds, args.warmup), mode="ping",
                                        tokens=tokens, admin=gw.admin, pid=gw.proc.pid))
            e_runs.append(e)
            g_runs.append(g)
            p_runs.append(p)
            print(f"round {r + 1}: drop " + ", ".join(f"{stack} {runs[-1]['rate']:.0f}/s"
                                                     for stack, runs in d_runs.items()) +
                  f" | echo {e['rate']:.0f}/s | gateway system.ping {p['rate']:.0f}/s "
                  f"(ratio {p['rate'] / e['rate']:.2f}) | gateway {g['rate']:.0f} updates/s "
                  f"(ratio {g['rate'] / e['rate']:.2f}), {g['statements_per_1000']:.3f} statements/1000 updates, "
                  f"{g['flushes']:.0f} flushes, server lag p50<={g['lag_p50_le']}s p99<={g['lag_p99_le']}s "
                  f"mean {g['lag_mean']:.3f}s, probe lag p50 {g.get('probe_lag_p50', float('nan')):.3f}s "
                  f"max {g.get('probe_lag_max', float('nan')):.3f}s", flush=True)
        ratios = [g["rate"] / e["rate"] for g, e in zip(g_runs, e_runs)]
        print(f"median: echo {median([e['rate'] for e in e_runs]):.0f}/s, "
              f"gateway system.ping {median([p['rate'] for p in p_runs]):.0f}/s "
              f"(ratio {median([p['rate'] / e['rate'] for p, e in zip(p_runs, e_runs)]):.2f}), "
              f"gateway {median([g['rate'] for g in g_runs]):.0f} updates/s, "
              f"ratio {median(ratios):.2f} (rounds {', '.join(f'{r:.2f}' for r in ratios)}), "
              f"statements/1000 updates {median([g['statements_per_1000'] for g in g_runs]):.3f}, "
              f"server lag mean {median([g['lag_mean'] for g in g_runs]):.3f}s, "
              f"probe lag p50 {median([g.get('probe_lag_p50', float('nan')) for g in g_runs]):.3f}s", flush=True)
        for stack, runs in d_runs.items():
            to_updates = [g["rate"] / d["rate"] for g, d in zip(g_runs, runs)]
            to_pings = [p["rate"] / d["rate"] for p, d in zip(p_runs, runs)]
            print(f"against the {stack} drop server ({median([d['rate'] for d in runs]):.0f} messages/s, "
                  f"{min(d['rate'] for d in runs):.0f}-{max(d['rate'] for d in runs):.0f}): gateway updates "
                  f"{median(to_updates):.2f} ({min(to_updates):.2f}-{max(to_updates):.2f}), "
                  f"system.ping notifications {median(to_pings):.2f} ({min(to_pings):.2f}-{max(to_pings):.2f})",
                  flush=True)
        print("server CPU per message in the window, median (min-max):")
        for name, runs in [*((f"{stack} drop server", runs) for stack, runs in d_runs.items()),
                           ("echo server (per echoed message)", e_runs), ("gateway playback.position", g_runs),
                           ("gateway system.ping notification", p_runs)]:
            cpu = [r["cpu_us"] for r in runs if "cpu_us" in r]
            if cpu:
                print(f"  {name:<36} {median(cpu):6.1f} us ({min(cpu):.1f}-{max(cpu):.1f})", flush=True)
        for stack, runs in d_runs.items():
            ratios = [g["cpu_us"] / d["cpu_us"] for g, d in zip(g_runs, runs) if "cpu_us" in g and "cpu_us" in d]
            if ratios:
                print(f"  gateway playback.position / {stack} drop server, CPU per message: {median(ratios):.2f} "
                      f"({min(ratios):.2f}-{max(ratios):.2f})", flush=True)
        print("load:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip(), flush=True)
    finally:
        for server in drops.values():
            server.stop()
        echo.stop()
        gw.stop()


async def _logins(url: str, emails: list[str]) -> list[dict]:
    return [await login(url, e) for e in emails]


if __name__ == "__main__":
    main()
