"""`system.ping` through the whole gateway vs a bare trio-websocket echo server.

Same client, same run, 1/10/100 connections, several rounds; prints medians and the
ratio gateway/echo of requests per second (target >= 0.85).

    .venv/bin/python bench/gateway_ping.py [--seconds 3] [--rounds 3]
"""

from __future__ import annotations

import argparse

import trio

from loadgen import closed_loop, echo_server, gateway, median, ping_frame


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--connections", default="1,10,100")
    args = ap.parse_args()
    echo, gw = echo_server(), gateway()
    try:
        print(f"{'conns':>5} {'echo rps':>10} {'p50':>7} {'p99':>7} | {'gateway rps':>11} {'p50':>7} {'p99':>7} | ratio")
        for conns in [int(c) for c in args.connections.split(",")]:
            e_runs, g_runs = [], []
            for _ in range(args.rounds):  # interleave so drift hits both alike
                e_runs.append(trio.run(closed_loop, echo.url, conns, args.seconds, ping_frame))
                g_runs.append(trio.run(closed_loop, gw.url, conns, args.seconds, ping_frame))
            e = {k: median([r[k] for r in e_runs]) for k in ("rps", "p50_ms", "p99_ms")}
            g = {k: median([r[k] for r in g_runs]) for k in ("rps", "p50_ms", "p99_ms")}
            ratios = sorted(gr["rps"] / er["rps"] for gr, er in zip(g_runs, e_runs))
            print(f"{conns:>5} {e['rps']:>10.0f} {e['p50_ms']:>7.2f} {e['p99_ms']:>7.2f} | "
                  f"{g['rps']:>11.0f} {g['p50_ms']:>7.2f} {g['p99_ms']:>7.2f} | {g['rps'] / e['rps']:.2f} "
                  f"(per-round {', '.join(f'{r:.2f}' for r in ratios)})", flush=True)
    finally:
        echo.stop()
        gw.stop()


if __name__ == "__main__":
    main()
