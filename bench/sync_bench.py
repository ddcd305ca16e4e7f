"""Live playback sync: many subscribed connections while a share of them stream positions.

Set-up: `--users` accounts with `--devices` connections each (2,000 connections by
default), all opened before measuring. A `--share` of the users stream positions from
their first device, `--rate` updates a second each (a player reports every second or
so); every other device of theirs is subscribed (`playback.subscribe`) and hears
`playback.changed`. With `--nodes 2` the first device of each user is on node a and the
others on node b (PostgreSQL and a private redis-server), so every notification crosses
Redis.

Each round has two windows of `--seconds`, streaming the same way:

- baseline: no subscription anywhere; the server's CPU time (utime + stime from
  /proc/<pid>/stat, all nodes) per update;
- subscribed: every connection subscribed; CPU per update again, and the lag from
  sending an update to its notification arriving on each other device of the user
  (p50, p99; the client's own scheduling delay is in it), and the share of updates heard.

Targets: lag p99 under one second (one node and two); CPU per update with subscribers
at most 2x the baseline. Memory per subscription: the server's RSS (VmRSS) before and
after every connection subscribed (`--subs-per-connection` of them), divided by their
number. Medians over `--rounds` with min..max.

    .venv/bin/python bench/sync_bench.py [--nodes 1|2] [--users 1000] [--devices 2] [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import random
import resource
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import orjson
import trio
from trio_websocket import ConnectionClosed, WebSocketConnection, connect_websocket_url, open_websocket_url

from loadgen import ROOT, Server, cpu_seconds, rss_bytes

PASSWORD = "bench password 1234"
PG_ADMIN = os.environ.get("MG_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def raise_fd_limit(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(needed, soft)), hard))
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        raise SystemExit(f"need {needed} open files, the limit is {soft}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Infra:
    """Where the nodes keep their data: SQLite (one node) or a fresh PostgreSQL database
    and a private redis-server (two nodes)."""

    def __init__(self, nodes: int) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="mg-sync-bench-"))
        self.nodes = nodes
        self.db_name = f"mg_bench_{secrets.token_hex(4)}"
        self.redis: subprocess.Popen[bytes] | None = None
        self.args: list[str] = []
        if nodes > 1:
            asyncio.run(self._pg(f'CREATE DATABASE "{self.db_name}"'))
            port = free_port()
            binary = shutil.which("redis-server") or "redis-server"
            self.redis = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                           "--appendonly", "no"], stdout=subprocess.DEVNULL)
            time.sleep(0.3)
            base = PG_ADMIN.rsplit("/", 1)[0]
            self.args = ["--database-url", f"{base}/{self.db_name}", "--redis-url", f"redis://127.0.0.1:{port}/0"]

    async def _pg(self, sql: str) -> None:
        import asyncpg

        con = await asyncpg.connect(PG_ADMIN)
        try:
            await con.execute(sql)
        finally:
            await con.close()

    def data_args(self, n: int) -> list[str]:
        return ["--data-dir", str(self.tmp / f"node{n}" if self.nodes > 1 else self.tmp / "node0"), *self.args]

    def close(self) -> None:
        if self.redis is not None:
            self.redis.kill()
            self.redis.wait()
        if self.nodes > 1:
            asyncio.run(self._pg(f'DROP DATABASE IF EXISTS "{self.db_name}" WITH (FORCE)'))
        shutil.rmtree(self.tmp, ignore_errors=True)


class Conn:
    """One device: a WebSocket with a reader task that settles answers and times
    `playback.changed` notifications."""

    ids = itertools.count(1)

    def __init__(self, ws: WebSocketConnection, bench: "Bench", user: int) -> None:
        self.ws = ws
        self.bench = bench
        self.user = user
        self.answers: dict[int, Any] = {}
        self.waiting: dict[int, trio.Event] = {}
        self.subs: list[str] = []

    async def read(self) -> None:
        try:
            while True:
                msg = orjson.loads(await self.ws.get_message())
                if "id" in msg:
                    self.answers[msg["id"]] = msg
                    event = self.waiting.pop(msg["id"], None)
                    if event is not None:
                        event.set()
                elif msg.get("method") == "playback.changed":
                    self.bench.heard(self.user, msg["params"]["position_ms"])
        except ConnectionClosed:
            pass

    async def call(self, method: str, params: Any) -> Any:
        rid = next(Conn.ids)
        event = self.waiting[rid] = trio.Event()
        await self.ws.send_message(orjson.dumps({"jsonrpc": "2.0", "id": rid, "method": method,
                                                 "params": params}).decode())
        with trio.fail_after(60):
            await event.wait()
        answer = self.answers.pop(rid)
        if "error" in answer:
            raise RuntimeError(f"{method}: {answer['error']}")
        return answer["result"]

    async def notify(self, method: str, params: Any) -> None:
        await self.ws.send_message(orjson.dumps({"jsonrpc": "2.0", "method": method, "params": params}).decode())


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.sent_at: dict[tuple[int, int], float] = {}
        self.lags: list[float] = []
        self.expected = 0
        self.lost = 0  # connections the server closed (reported: they should be none)
        self.listening = False
        self.devices: list[list[Conn]] = []

    def heard(self, user: int, position: int) -> None:
        sent = self.sent_at.get((user, position))
        if sent is not None and self.listening:
            self.lags.append(time.perf_counter() - sent)


async def register(url: str, count: int) -> list[str]:
    tokens: list[str] = [""] * count
    limit = trio.Semaphore(32)

    async def one(i: int) -> None:
        async with limit, open_websocket_url(url) as ws:
            conn = Conn(ws, None, i)  # type: ignore[arg-type]
            async with trio.open_nursery() as nursery:
                nursery.start_soon(conn.read)
                email = f"sync{i}-{secrets.token_hex(3)}@bench.example"
                await conn.call("auth.register", {"email": email, "password": PASSWORD})
                tokens[i] = (await conn.call("auth.login", {"email": email, "password": PASSWORD}))["access_token"]
                nursery.cancel_scope.cancel()

    async with trio.open_nursery() as nursery:
        for i in range(count):
            nursery.start_soon(one, i)
    return tokens


async def run_mode(args: argparse.Namespace, servers: list[Server], infra: Infra) -> dict[str, list[float]]:
    bench = Bench(args)
    tokens = await register(servers[0].url, args.users)
    streamers = list(range(max(1, int(args.users * args.share))))
    results: dict[str, list[float]] = {k: [] for k in (
        "base_us", "with_us", "ratio", "base_net_us", "with_net_us", "net_ratio", "idle_ms_s", "p50_ms", "p99_ms",
        "heard", "updates_s")}
    pids = [s.proc.pid for s in servers]
    async with trio.open_nursery() as nursery:
        limit = trio.Semaphore(64)
        opened = 0
        all_open = trio.Event()
        bench.devices = [[] for _ in range(args.users)]

        async def device(user: int, n: int) -> None:
            nonlocal opened
            server = servers[0 if n == 0 else len(servers) - 1]
            async with limit:
                ws = await connect_websocket_url(nursery, server.url, message_queue_size=64,
                                                 extra_headers=[("Authorization", f"Bearer {tokens[user]}")])
            conn = Conn(ws, bench, user)
            bench.devices[user].append(conn)
            opened += 1
            if opened == args.users * args.devices:
                all_open.set()
            await conn.read()

        for user in range(args.users):
            for n in range(args.devices):
                nursery.start_soon(device, user, n)
        with trio.fail_after(300):
            await all_open.wait()
        print(f"  {opened} connections open", flush=True)
        sessions = {}
        for user in streamers:
            first = bench.devices[user][0]
            content = f"c{random.randint(40, 1500):06d}"
            sessions[user] = (await first.call("playback.start", {"content_id": content}))["session_id"]
        positions = itertools.count(1)

        async def stream(seconds: float) -> int:
            sent = 0
            end = trio.current_time() + seconds
            period = 1 / args.rate

            async def one(user: int) -> None:
                nonlocal sent
                await trio.sleep(random.random() * period)
                first = bench.devices[user][0]
                while trio.current_time() < end:
                    position = next(positions) * 10
                    bench.sent_at[(user, position)] = time.perf_counter()
                    await first.notify("playback.position", {"session_id": sessions[user], "position_ms": position})
                    sent += 1
                    await trio.sleep(period)

            async with trio.open_nursery() as streams:
                for user in streamers:
                    streams.start_soon(one, user)
            return sent

        async def subscribe_all(on: bool) -> None:
            async def one(conn: Conn) -> None:
                try:
                    await toggle(conn)
                except ConnectionClosed:
                    bench.lost += 1

            async def toggle(conn: Conn) -> None:
                async with limit:
                    if on:
                        for _ in range(args.subs_per_connection):
                            conn.subs.append((await conn.call("playback.subscribe", {}))["subscription"])
                    else:
                        for sub in conn.subs:
                            await conn.call("playback.unsubscribe", {"subscription": sub})
                        conn.subs.clear()

            async with trio.open_nursery() as subs:
                for conns in bench.devices:
                    for conn in conns:
                        subs.start_soon(one, conn)

        memory: list[float] = []
        for round_ in range(args.rounds):
            # Idle: what the servers spend with nothing streaming (timers of idle
            # connections, sweeps), subtracted from both windows in the "net" figures.
            cpu0 = sum(cpu_seconds(p) for p in pids)
            await trio.sleep(args.seconds)
            idle = (sum(cpu_seconds(p) for p in pids) - cpu0) / args.seconds
            cpu0 = sum(cpu_seconds(p) for p in pids)
            base_sent = await stream(args.seconds)
            base_total = sum(cpu_seconds(p) for p in pids) - cpu0
            base = base_total / base_sent
            base_net = max(1e-9, base_total - idle * args.seconds) / base_sent
            rss0 = sum(rss_bytes(p) for p in pids) // 1024
            await subscribe_all(True)
            rss1 = sum(rss_bytes(p) for p in pids) // 1024
            memory.append((rss1 - rss0) * 1024 / (args.users * args.devices * args.subs_per_connection))
            await trio.sleep(0.5)
            bench.lags.clear()
            bench.sent_at.clear()
            bench.listening = True
            cpu0 = sum(cpu_seconds(p) for p in pids)
            with_sent = await stream(args.seconds)
            with_total = sum(cpu_seconds(p) for p in pids) - cpu0
            with_cpu = with_total / with_sent
            with_net = max(0.0, with_total - idle * args.seconds) / with_sent
            await trio.sleep(1.0)  # the last notifications arrive
            bench.listening = False
            await subscribe_all(False)
            lags = sorted(bench.lags)
            others = with_sent * (args.devices - 1)
            row = {
                "base_us": base * 1e6, "with_us": with_cpu * 1e6, "ratio": with_cpu / base,
                "base_net_us": base_net * 1e6, "with_net_us": with_net * 1e6, "net_ratio": with_net / base_net,
                "idle_ms_s": idle * 1000,
                "p50_ms": lags[len(lags) // 2] * 1000 if lags else float("nan"),
                "p99_ms": lags[min(len(lags) - 1, int(0.99 * len(lags)))] * 1000 if lags else float("nan"),
                "heard": len(lags) / others if others else float("nan"),
                "updates_s": with_sent / args.seconds,
            }
            for k, v in row.items():
                results[k].append(v)
            print(f"  round {round_ + 1}: cpu/update {row['base_us']:.0f} us baseline, {row['with_us']:.0f} us "
                  f"subscribed ({row['ratio']:.2f}x; less idle {row['base_net_us']:.0f} / {row['with_net_us']:.0f} us, "
                  f"{row['net_ratio']:.2f}x; idle {row['idle_ms_s']:.0f} ms/s); lag p50 {row['p50_ms']:.1f} ms p99 {row['p99_ms']:.1f} ms; "
                  f"heard {row['heard']:.3f} of {others} ({row['updates_s']:.0f} updates/s); "
                  f"rss +{memory[-1]:.0f} B/subscription; connections lost {bench.lost}", flush=True)
        results["mem_b"] = memory
        nursery.cancel_scope.cancel()
    return results


def hub_bytes_per_subscription(count: int = 8000) -> float:
    """What one subscription holds in the push hub (tracemalloc, in this process): the
    RSS figures above are coarse, as the allocator reuses what earlier rounds freed."""
    import tracemalloc

    sys.path.insert(0, str(ROOT))
    from protocol.push import PushHub

    class Idle:
        backlog = 0
        closed = False

        def __init__(self, conn_id: int) -> None:
            self.id = conn_id

        def on_close(self, callback: Any) -> None:
            self.callback = callback

    conns = [Idle(n) for n in range(count)]
    hub = PushHub("playback.changed", lambda n: f"node/{n}")
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for n, conn in enumerate(conns):
        hub.activate(conn, hub.subscribe(conn, f"user-{n // 2:08d}"))  # type: ignore[arg-type]
    used = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    return used / count


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} ({min(values):.2f}..{max(values):.2f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nodes", type=int, choices=(1, 2), default=1)
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--devices", type=int, default=2)
    parser.add_argument("--share", type=float, default=0.25, help="of the users stream positions")
    parser.add_argument("--rate", type=float, default=1.0, help="updates a second per streaming device")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--subs-per-connection", type=int, default=1)
    parser.add_argument("--titles", type=int, default=2000)
    args = parser.parse_args()
    connections = args.users * args.devices
    raise_fd_limit(connections * 2 + 1024)  # the servers inherit it
    print(f"sync bench: {args.nodes} node(s), {args.users} users x {args.devices} devices = {connections} "
          f"connections, {args.share:.0%} streaming at {args.rate}/s, {args.rounds} rounds of 2 x {args.seconds} s; "
          f"load before: {os.getloadavg()[0]:.2f}", flush=True)
    infra = Infra(args.nodes)
    servers: list[Server] = []
    try:
        main_py = [sys.executable, str(ROOT / "main.py")]
        subprocess.run([*main_py, "demo-catalog", "--titles", str(args.titles), *infra.data_args(0)], cwd=ROOT,
                       check=True, capture_output=True)
        env = {"MG_ARGON2_PROFILE": "test", "JWT_SECRET": "b" * 48}
        for n in range(args.nodes):
            if args.nodes == 1:
                data = infra.data_args(0)
            else:
                data = infra.data_args(n)
            server = Server([*main_py, "serve", "--port", "0", "--admin-port", "0", *data], env=env)
            # Keep reading its log: a full pipe would stop the server.
            threading.Thread(target=lambda out: [None for _ in out], args=(server.proc.stderr,), daemon=True).start()
            servers.append(server)
        results = trio.run(run_mode, args, servers, infra)
    finally:
        for s in servers:
            s.stop()
        infra.close()
    print(f"medians over {args.rounds} rounds (min..max); load after: {os.getloadavg()[0]:.2f}")
    print(f"  server CPU per update: baseline {spread(results['base_us'])} us, subscribed "
          f"{spread(results['with_us'])} us, ratio {spread(results['ratio'])} (target <= 2)")
    print(f"  the same less the idle servers' CPU ({spread(results['idle_ms_s'])} ms/s): baseline "
          f"{spread(results['base_net_us'])} us, subscribed {spread(results['with_net_us'])} us, "
          f"ratio {spread(results['net_ratio'])}")
    print(f"  lag update -> other device: p50 {spread(results['p50_ms'])} ms, p99 {spread(results['p99_ms'])} ms "
          f"(target p99 < 1000); heard {spread(results['heard'])} of updates")
    print(f"  memory per subscription: {spread(results['mem_b'])} bytes of the servers' RSS (round 1, fresh "
          f"memory: {results['mem_b'][0]:.0f}); the push hub's own structures: "
          f"{hub_bytes_per_subscription():.0f} bytes (tracemalloc, 8,000 subscriptions, one on_close per connection)")


if __name__ == "__main__":
    main()
