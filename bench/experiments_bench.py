"""experiments.assign: end to end against system.ping, and its server-side cost.

1. Through a real gateway process (SQLite), same client, same run, rounds interleaved:
   closed-loop `system.ping` vs `experiments.assign` with a fresh user id per call
   (first assignment: hash + record + count) and with returning users (a pool of
   10,000 ids: sticky cache hits), both asked by an admin connection (whose first
   answers are all recorded), and with fresh ids from anonymous connections (past
   their quota: hash + count, not recorded). Prints median requests per second and the
   median of the rounds' ratios assign/ping, each round against its own ping run
   (target >= 0.9), and the server's CPU time per request (from /proc/<pid>/stat) of
   each. This machine is noisy: use many short rounds (--rounds 30 --seconds 0.5)
   and quote the median of several runs.
2. In process: the cost of one assignment through the one assignment path the
   gateway's handler takes (`ExperimentsDomain.assign`: the assignment table, no ask),
   against the bare hash function (`hash_v2`), in microseconds per call, median of
   rounds; new users (hash + record + count) and returning ones (sticky cache hit +
   count).

    .venv/bin/python bench/experiments_bench.py [--seconds 3] [--rounds 3] [--connections 10,50]
"""

from __future__ import annotations

import argparse
import itertools
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import orjson
import trio
from trio_websocket import open_websocket_url

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from loadgen import closed_loop, cpu_seconds, gateway, median, ping_frame, prebuilt  # noqa: E402

from actors import experiments  # noqa: E402
from actors.env import DomainEnv  # noqa: E402
from actors.experiments.hashing import hash_v2  # noqa: E402
from actors.kv import MemoryKV  # noqa: E402
from actors.storage import connect_storage, migrate  # noqa: E402
from runtime import Registry, Supervisor  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
EXPERIMENT = {"id": "checkout-button", "name": "Checkout button",
              "variants": [{"name": "control", "weight": 20}, {"name": "blue", "weight": 30},
                           {"name": "green", "weight": 50}]}
EMAIL, PASSWORD = "bench-admin@example.com", "bench password 123"


def assign_frames(fresh: bool):  # type: ignore[no-untyped-def]
    counter = itertools.count()
    prefix = f"u{time.monotonic_ns()}-"  # fresh ids in every round

    def frame(n: int) -> bytes:
        i = next(counter)
        user = f"{prefix}{i}" if fresh else f"returning-{i % 10_000}"
        return orjson.dumps({"jsonrpc": "2.0", "id": n, "method": "experiments.assign",
                             "params": {"experiment_id": EXPERIMENT["id"], "user_id": user}})
    return frame


async def rpc(url: str, method: str, params: dict, token: str | None = None) -> dict:
    headers = [("Authorization", f"Bearer {token}")] if token else None
    async with open_websocket_url(url, extra_headers=headers) as ws:
        await ws.send_message(orjson.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).decode())
        answer = orjson.loads(await ws.get_message())
    if "error" in answer:
        raise RuntimeError(f"{method}: {answer['error']}")
    return answer["result"]


def end_to_end(args: argparse.Namespace) -> None:
    data = tempfile.mkdtemp(prefix="mg-bench-exp-")
    subprocess.run([sys.executable, "main.py", "create-user", "--data-dir", data, "--email", EMAIL,
                    "--password", PASSWORD, "--admin"], cwd=ROOT, check=True, capture_output=True)
    gw = gateway(["--data-dir", data])
    try:
        token = trio.run(rpc, gw.url, "auth.login", {"email": EMAIL, "password": PASSWORD})["access_token"]
        trio.run(rpc, gw.url, "experiments.create", EXPERIMENT, token)
        print(f"{'conns':>5} {'ping rps':>9} {'p50':>6} | {'assign new':>10} {'p50':>6} {'ratio':>5} | "
              f"{'returning':>9} {'p50':>6} {'ratio':>5} | {'anonymous':>9} {'p50':>6} {'ratio':>5}")
        admin = [("Authorization", f"Bearer {token}")]
        for conns in [int(c) for c in args.connections.split(",")]:
            runs: dict[str, list[dict]] = {"ping": [], "new": [], "returning": [], "anonymous": []}
            makers = {"ping": lambda: ping_frame, "new": lambda: assign_frames(True),
                      "returning": lambda: assign_frames(False), "anonymous": lambda: assign_frames(True)}
            headers = {"ping": None, "new": admin, "returning": admin, "anonymous": None}
            for round_ in range(args.rounds):
                # Rounds interleaved and each round's order rotated, so drift and
                # warm-up hit all kinds alike; frames built before each timed run
                # (enough for 20k requests a second), so the client's cost per request
                # is the same for all.
                count = int(20_000 * args.seconds)
                kinds = list(makers)[round_ % 4:] + list(makers)[:round_ % 4]
                for kind in kinds:
                    frames = prebuilt(makers[kind](), count)
                    cpu = cpu_seconds(gw.proc.pid)
                    run = trio.run(closed_loop, gw.url, conns, args.seconds, frames, headers[kind])
                    run["cpu_us"] = (cpu_seconds(gw.proc.pid) - cpu) / max(1, run["count"]) * 1e6
                    runs[kind].append(run)
            m = {k: {f: median([r[f] for r in v]) for f in ("rps", "p50_ms", "cpu_us")} for k, v in runs.items()}
            # Each round's ratio against the ping run of the same round.
            kinds = ("new", "returning", "anonymous")
            ratios = {k: sorted(a["rps"] / p["rps"] for a, p in zip(runs[k], runs["ping"])) for k in kinds}
            print(f"{conns:>5} {m['ping']['rps']:>9.0f} {m['ping']['p50_ms']:>6.2f} | "
                  f"{m['new']['rps']:>10.0f} {m['new']['p50_ms']:>6.2f} {median(ratios['new']):>5.2f} | "
                  f"{m['returning']['rps']:>9.0f} {m['returning']['p50_ms']:>6.2f} "
                  f"{median(ratios['returning']):>5.2f} | {m['anonymous']['rps']:>9.0f} "
                  f"{m['anonymous']['p50_ms']:>6.2f} {median(ratios['anonymous']):>5.2f}", flush=True)
            print("      per-round ratios: " + "; ".join(
                f"{k} {', '.join(f'{r:.2f}' for r in ratios[k])}" for k in kinds), flush=True)
            print(f"      server CPU per request, median of rounds: ping {m['ping']['cpu_us']:.1f} us, "
                  + ", ".join(f"{k} {m[k]['cpu_us']:.1f} us" for k in kinds), flush=True)
    finally:
        gw.stop()


async def server_side(args: argparse.Namespace) -> None:
    n = args.number
    data = tempfile.mkdtemp(prefix="mg-bench-exp-")
    async with connect_storage(f"sqlite:///{data}/gateway.db") as storage:
        await migrate(storage)
        domain = experiments.start(DomainEnv(storage, MemoryKV(), Registry(), "bench"))
        supervisor = Supervisor("bench", domain.children)
        async with trio.open_nursery() as nursery:
            await nursery.start(supervisor.run)
            experiment = await domain.create(EXPERIMENT)
            results: dict[str, list[float]] = {k: [] for k in ("hash", "new", "returning")}
            for round_ in range(args.rounds):
                # The same kind of ids everywhere: 36-character UUIDs, new in each round.
                ids = [str(uuid.UUID(int=(round_ << 64) + i)) for i in range(n)]
                seed = experiment.seed
                t0 = time.perf_counter()
                for u in ids:
                    hash_v2(seed, u)
                results["hash"].append((time.perf_counter() - t0) / n)
                for kind in ("new", "returning"):
                    t0 = time.perf_counter()
                    for i, u in enumerate(ids):
                        await domain.assign(experiment.id, u)
                        if i % 1000 == 999:
                            # The table path never yields: let the flusher write, as
                            # the gateway's I/O waits do, so its cost is counted.
                            await trio.sleep(0)
                    results[kind].append((time.perf_counter() - t0) / n)
            await supervisor.stop()
    us = {k: median(v) * 1e6 for k, v in results.items()}
    print(f"\nserver side, {n} calls x {args.rounds} rounds, median us per call:")
    print(f"  hash_v2 alone                                 {us['hash']:7.2f}")
    for kind in ("new", "returning"):
        v = us[kind]
        print(f"  ExperimentsDomain.assign, {kind + ' users':<19} {v:7.2f}   ({v / us['hash']:.1f}x the hash)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--connections", default="10,50")
    ap.add_argument("--number", type=int, default=20_000, help="calls per round, server side")
    ap.add_argument("--skip-e2e", action="store_true")
    ap.add_argument("--skip-server-side", action="store_true")
    args = ap.parse_args()
    if not args.skip_e2e:
        end_to_end(args)
    if not args.skip_server_side:
        trio.run(server_side, args)


if __name__ == "__main__":
    main()
