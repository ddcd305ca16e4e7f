"""`serve --workers 2` against one worker, on this machine, under a pipelined load
generator that leaves the CPU to the server.

In one run, rounds interleaved so drift hits all alike:

- the gateway with `--workers 1` (one process) and with `--workers 2` (a main process
  and two workers); both on SQLite with Redis, so they do the same work;
- FastAPI + uvicorn[standard] serving the same JSON-RPC ping, one process and
  `uvicorn --workers 2` (bench/fastapi_ping.py; `pip install -e '.[bench]'`);
- the bare trio-websocket echo (bench/echo_server.py), one process.

Load (bench/loadgen.py `pipelined`): `--connections` connections, each keeping
`--window` `system.ping` requests in flight and sending a batch again in one write for
every batch of answers, which it counts by their frame headers without parsing them.
For each server: requests/s and the server's CPU time per request (utime + stime of
every process of the server, from /proc), medians (min-max) over the rounds; then two
workers against one: throughput (target >= 1.3) and CPU per request (target within 10 %).

    .venv/bin/python bench/workers_bench.py [--rounds 5] [--seconds 3] [--connections 32] [--window 16]
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys

import trio

from loadgen import ROOT, Server, echo_server, gateway, pipelined, ping_frame, spread

REDIS_URL = os.environ.get("MG_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")


def fastapi(workers: int) -> Server:
    return Server([sys.executable, "bench/fastapi_ping.py", "0", str(workers)])


def own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def measure(server: Server, args: argparse.Namespace) -> tuple[float, float, float]:
    """One round: (requests/s, server CPU us per request, the client's share of one core)."""
    before, client_before = server.cpu_seconds(), own_cpu()
    result = trio.run(pipelined, server.url, args.connections, args.seconds, ping_frame(1), args.window)
    used, client = server.cpu_seconds() - before, own_cpu() - client_before
    return result["rps"], used / result["count"] * 1e6, client / result["elapsed"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--window", type=int, default=16, help="requests each connection keeps in flight")
    ap.add_argument("--redis-url", default=REDIS_URL)
    args = ap.parse_args()
    print("load:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip(), flush=True)
    print(f"cores: {os.cpu_count()}; {args.connections} connections x {args.window} pipelined pings, "
          f"{args.rounds} rounds of {args.seconds} s", flush=True)
    servers: dict[str, Server] = {}
    try:
        servers["gateway, 1 worker"] = gateway(["--workers", "1", "--redis-url", args.redis_url])
        servers["gateway, 2 workers"] = gateway(["--workers", "2", "--redis-url", args.redis_url])
        servers["fastapi+uvicorn, 1 worker"] = fastapi(1)
        servers["fastapi+uvicorn, 2 workers"] = fastapi(2)
        servers["trio-websocket echo"] = echo_server()
        rps: dict[str, list[float]] = {name: [] for name in servers}
        cpu: dict[str, list[float]] = {name: [] for name in servers}
        client: dict[str, list[float]] = {name: [] for name in servers}
        for r in range(args.rounds):
            for name, server in servers.items():
                got_rps, got_cpu, got_client = measure(server, args)
                rps[name].append(got_rps)
                cpu[name].append(got_cpu)
                client[name].append(got_client)
            print(f"round {r + 1}: " + ", ".join(f"{name} {rps[name][-1]:.0f}/s {cpu[name][-1]:.1f} us"
                                                 for name in servers), flush=True)
        print(f"\nmedian (min-max) over {args.rounds} rounds; the client's CPU as a share of one core")
        print(f"  {'server':<28} {'requests/s':>22} {'server CPU us/request':>24} {'client CPU':>18}")
        for name in servers:
            print(f"  {name:<28} {spread(rps[name], '.0f'):>22} {spread(cpu[name], '.1f'):>24} "
                  f"{spread(client[name], '.2f'):>18}")
        for kind in ("gateway", "fastapi+uvicorn"):
            one, two = f"{kind}, 1 worker", f"{kind}, 2 workers"
            throughput = [b / a for a, b in zip(rps[one], rps[two])]
            per_request = [b / a for a, b in zip(cpu[one], cpu[two])]
            print(f"  {kind}: 2 workers / 1 worker: throughput {spread(throughput, '.2f')}, "
                  f"CPU per request {spread(per_request, '.2f')}")
        ratios = [a / b for a, b in zip(cpu["gateway, 2 workers"], cpu["fastapi+uvicorn, 2 workers"])]
        print(f"  gateway vs fastapi+uvicorn, 2 workers each: CPU per request {spread(ratios, '.2f')}")
        print("load:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip(), flush=True)
    finally:
        for server in servers.values():
            server.stop()


if __name__ == "__main__":
    os.chdir(ROOT)
    main()
