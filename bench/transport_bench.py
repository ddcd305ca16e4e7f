"""`system.ping` through the gateway against the alternatives, in one run:

- the gateway (this tree), and optionally another tree's gateway (`--baseline-tree`, e.g.
  a checkout of main before the transport rewrite) as "today";
- the bare trio-websocket echo server (bench/echo_server.py), the old floor;
- FastAPI + uvicorn[standard] serving the same JSON-RPC ping (bench/fastapi_ping.py;
  `pip install -e '.[bench]'`).

Same client for all (bench/loadgen.py, closed loop: by default the lean raw-socket
client, `--client trio-websocket` for the old one), 16 and 64 connections, several rounds
with the servers interleaved so drift hits all alike. For each: requests/s and the
server's CPU time per request (utime+stime from /proc/<pid>/stat). Then memory per idle
connection: RSS growth of each server with 2,000 idle connections open, divided by 2,000.

    .venv/bin/python bench/transport_bench.py [--seconds 3] [--rounds 5] [--baseline-tree /path/to/main] [--engines]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile

import trio
from trio_websocket import open_websocket_url

from loadgen import (ROOT, Server, closed_loop, closed_loop_lean, cpu_seconds, echo_server, gateway, ping_frame,
                     rss_bytes)

def fastapi_server() -> Server:
    return Server([sys.executable, "bench/fastapi_ping.py", "0"])


def engine_gateway(engine: str) -> Server:
    data = tempfile.mkdtemp(prefix="mg-bench-engine-")
    return Server([sys.executable, "bench/ws_engines.py", engine, "serve", "--port", "0", "--admin-port", "0",
                   "--data-dir", data], env={"MG_LOG_LEVEL": "info", "MG_RATE_LIMIT": "1000000000"})


def tree_gateway(tree: str) -> Server:
    data = tempfile.mkdtemp(prefix="mg-bench-base-")
    return Server([sys.executable, os.path.join(tree, "main.py"), "serve", "--port", "0", "--admin-port", "0",
                   "--data-dir", data], env={"MG_LOG_LEVEL": "info", "PYTHONPATH": tree})


async def idle_connections(url: str, count: int, pid: int) -> float:
    """RSS growth per connection with `count` idle connections open (bytes)."""
    async with open_websocket_url(url) as warm:
        await warm.send_message(ping_frame(0).decode())
        await warm.get_message()
    await trio.sleep(0.5)
    before = rss_bytes(pid)
    opened = trio.Event()
    done = trio.Event()
    count_open = [0]
    limiter = trio.CapacityLimiter(100)

    async def one() -> None:
        async with limiter:
            ws_cm = open_websocket_url(url)
            ws = await ws_cm.__aenter__()
        try:
            count_open[0] += 1
            if count_open[0] == count:
                opened.set()
            await done.wait()
        finally:
            await ws_cm.__aexit__(None, None, None)

    async with trio.open_nursery() as nursery:
        for _ in range(count):
            nursery.start_soon(one)
        with trio.fail_after(120):
            await opened.wait()
        await trio.sleep(1.0)
        after = rss_bytes(pid)
        done.set()
    return (after - before) / count


def spread(values: list[float], fmt: str) -> str:
    return f"{format(statistics.median(values), fmt)} ({format(min(values), fmt)}-{format(max(values), fmt)})"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--connections", default="16,64")
    ap.add_argument("--idle", type=int, default=2000, help="idle connections for the memory figure (0: skip)")
    ap.add_argument("--baseline-tree", default=None, help="another checkout whose gateway is measured as 'today'")
    ap.add_argument("--client", choices=["lean", "trio-websocket"], default="lean",
                    help="the load generator: raw sockets (leaves the server more of the machine) or trio-websocket")
    ap.add_argument("--engines", action="store_true",
                    help="also the gateway with every frame through websockets, and through wsproto (bench/ws_engines.py)")
    args = ap.parse_args()
    print("load:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip(), flush=True)
    print("client:", args.client, flush=True)
    loop = closed_loop_lean if args.client == "lean" else closed_loop
    servers: dict[str, Server] = {"gateway": gateway()}
    if args.engines:
        servers["gateway on websockets only"] = engine_gateway("websockets")
        servers["gateway on wsproto"] = engine_gateway("wsproto")
    if args.baseline_tree:
        servers["today"] = tree_gateway(args.baseline_tree)
    servers["trio-websocket echo"] = echo_server()
    servers["fastapi+uvicorn"] = fastapi_server()
    try:
        for conns in [int(c) for c in args.connections.split(",")]:
            rps: dict[str, list[float]] = {name: [] for name in servers}
            cpu: dict[str, list[float]] = {name: [] for name in servers}
            for _ in range(args.rounds):
                for name, server in servers.items():
                    before = cpu_seconds(server.proc.pid)
                    result = trio.run(loop, server.url, conns, args.seconds, ping_frame)
                    used = cpu_seconds(server.proc.pid) - before
                    rps[name].append(result["rps"])
                    cpu[name].append(used / result["count"] * 1e6)
            print(f"\n{conns} connections, {args.rounds} rounds of {args.seconds} s: median (min-max)")
            print(f"  {'server':<28} {'requests/s':>22} {'server CPU us/request':>24}")
            for name in servers:
                print(f"  {name:<28} {spread(rps[name], '.0f'):>22} {spread(cpu[name], '.1f'):>24}")
            g = statistics.median(cpu["gateway"])
            for other in servers:
                if other != "gateway":
                    ratios = [a / b for a, b in zip(cpu["gateway"], cpu[other])]
                    print(f"  gateway CPU/request vs {other}: {spread(ratios, '.2f')} (medians {g:.1f} / "
                          f"{statistics.median(cpu[other]):.1f} us)")
        if args.idle:
            print(f"\nmemory per idle connection ({args.idle} open, RSS growth / {args.idle}):")
            for name, server in servers.items():
                per = trio.run(idle_connections, server.url, args.idle, server.proc.pid)
                print(f"  {name:<28} {per / 1024:6.1f} KiB", flush=True)
    finally:
        for server in servers.values():
            server.stop()


if __name__ == "__main__":
    os.chdir(ROOT)
    main()
