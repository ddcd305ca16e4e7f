"""Server CPU per request and requests/s of the gateway for `system.ping` and for a
realistic mix, beside FastAPI + uvicorn serving the same JSON-RPC ping and the bare
trio-websocket echo, in one run.

The mix, per connection, 20 messages in a fixed interleaving: 8 `playback.position`
notifications (on the connection's own playback session), 5 `content.get`, 4
`search.query` (words of the catalog's titles, every fourth with two letters swapped,
so corrections run too) and 3 `experiments.assign` (user ids cycling over 50,000, so
first answers are recorded and later ones remembered). Also each of those methods
alone (`playback.position` then as a request, so the closed loop waits for it).
The catalog: `demo-catalog --titles 2000`; every connection is a logged-in user's (8
users, registered over the wire); `--rate-limit 0`.

Same client for all (bench/loadgen.py `closed_loop_lean`: closed loop, raw sockets), at
16 and 64 connections, `--rounds` rounds with the servers and workloads interleaved.
CPU per request counts every message the client sent, notifications included.

    .venv/bin/python bench/mix_bench.py [--seconds 3] [--rounds 5] [--connections 16,64]
"""

from __future__ import annotations

import argparse
import itertools
import os
import random
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable

import orjson
import trio

from loadgen import ROOT, LeanSocket, Server, closed_loop_lean, echo_server, ping_frame, spread

sys.path.insert(0, str(ROOT))
from actors.catalog.demo import generate  # noqa: E402

TITLES = 2000
USERS = 8
PASSWORD = "bench password 1234"
EXPERIMENT = "bench-exp"
MIX = "PGPQPAPGPQPGAPQPGAQG"  # P position, G content.get, Q search.query, A experiments.assign: 8/5/4/3
HOUR = 3_600_000


async def rpc(sock: LeanSocket, method: str, params: Any = None) -> Any:
    await sock.send(orjson.dumps({"jsonrpc": "2.0", "id": 0, "method": method, "params": params or {}}))
    while True:
        answer = orjson.loads(await sock.receive_text())
        if answer.get("id") == 0:
            if "error" in answer:
                raise RuntimeError(f"{method}: {answer['error']}")
            return answer["result"]


async def set_up(url: str, admin_email: str) -> list[str]:
    """The experiment, and `USERS` registered users: their access tokens."""
    sock = await LeanSocket.open(url)
    admin = await rpc(sock, "auth.login", {"email": admin_email, "password": PASSWORD})
    await sock.aclose()
    sock = await LeanSocket.open(url, [("Authorization", f"Bearer {admin['access_token']}")])
    await rpc(sock, "experiments.create", {"id": EXPERIMENT, "name": "Bench", "variants": ["a", "b", "c"]})
    await sock.aclose()
    tokens = []
    for i in range(USERS):
        sock = await LeanSocket.open(url)
        email = f"viewer{i}-{os.getpid()}@bench.example"
        await rpc(sock, "auth.register", {"email": email, "password": PASSWORD})
        tokens.append((await rpc(sock, "auth.login", {"email": email, "password": PASSWORD}))["access_token"])
        await sock.aclose()
    return tokens


class Workload:
    """Frames for each connection of one workload (prebuilt, so the client stays cheap)."""

    def __init__(self, kinds: str, ids: list[str], words: list[str]) -> None:
        self.kinds = kinds
        self.ids = ids
        self.words = words
        self.users = itertools.count()

    def frames(self, session: str, n: int, rng: random.Random) -> list[bytes]:
        out = []
        for i in range(n):
            kind = self.kinds[i % len(self.kinds)]
            if kind in "Pp":
                message: dict[str, Any] = {"jsonrpc": "2.0", "method": "playback.position",
                                           "params": {"session_id": session, "position_ms": (i * 1000) % HOUR}}
                if kind == "p":  # alone: a request, so the closed loop waits for its answer
                    message = {"jsonrpc": "2.0", "id": i, **{k: v for k, v in message.items() if k != "jsonrpc"}}
            elif kind == "G":
                message = {"jsonrpc": "2.0", "id": i, "method": "content.get", "params": {"id": rng.choice(self.ids)}}
            elif kind == "Q":
                word = rng.choice(self.words)
                if i % 4 == 3 and len(word) > 4:
                    j = rng.randrange(1, len(word) - 2)
                    word = word[:j] + word[j + 1] + word[j] + word[j + 2:]
                message = {"jsonrpc": "2.0", "id": i, "method": "search.query",
                           "params": {"query": word, "page_size": 10}}
            elif kind == "A":
                message = {"jsonrpc": "2.0", "id": i, "method": "experiments.assign",
                           "params": {"experiment_id": EXPERIMENT, "user_id": f"u{next(self.users) % 50_000}"}}
            else:
                message = {"jsonrpc": "2.0", "id": i, "method": "system.ping"}
            out.append(orjson.dumps(message))
        return out


def is_request(frame: bytes) -> bool:
    return frame.startswith(b'{"jsonrpc":"2.0","id"')


def prepare_for(workload: Workload) -> Callable[[int, LeanSocket], Any]:
    async def prepare(i: int, sock: LeanSocket) -> Callable[[int], bytes]:
        session = ""
        if "P" in workload.kinds or "p" in workload.kinds:
            started = await rpc(sock, "playback.start", {"content_id": workload.ids[i % len(workload.ids)],
                                                         "device_id": f"bench-{i}"})
            session = started["session_id"]
        frames = workload.frames(session, 4000, random.Random(i))
        return lambda n: frames[n % len(frames)]

    return prepare


def prepare_data(data: Path) -> tuple[str, list[str], list[str]]:
    """The demo catalog and an admin, made with the CLI: (admin e-mail, ids, words)."""
    main = [sys.executable, str(ROOT / "main.py")]
    subprocess.run([*main, "demo-catalog", "--titles", str(TITLES), "--seed", "1", "--data-dir", str(data)],
                   cwd=ROOT, check=True, capture_output=True)
    email = "admin@bench.example"
    subprocess.run([*main, "create-user", "--data-dir", str(data), "--email", email, "--password", PASSWORD,
                    "--admin"], cwd=ROOT, check=True, capture_output=True)
    items = list(generate(TITLES, 1))
    ids = [item.id for item in items if item.type != "series"]
    words = sorted({w.lower() for item in items for w in item.title.split() if w.isalpha() and len(w) >= 4})
    return email, ids, words


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--connections", default="16,64")
    args = ap.parse_args()
    print("load:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip(), flush=True)
    data = Path(tempfile.mkdtemp(prefix="mg-mix-bench-"))
    admin_email, ids, words = prepare_data(data)
    gw = Server([sys.executable, "main.py", "serve", "--port", "0", "--admin-port", "0", "--data-dir", str(data),
                 "--rate-limit", "0"], env={"MG_LOG_LEVEL": "info"})
    baselines = {"trio-websocket echo": echo_server(),
                 "fastapi+uvicorn": Server([sys.executable, "bench/fastapi_ping.py", "0"])}
    try:
        tokens = trio.run(set_up, gw.url, admin_email)
        workloads = {"system.ping": "-", "mix": MIX, "playback.position": "p", "content.get": "G",
                     "search.query": "Q", "experiments.assign": "A"}
        for conns in [int(c) for c in args.connections.split(",")]:
            names = [*baselines, *(f"gateway {w}" for w in workloads)]
            rps: dict[str, list[float]] = {name: [] for name in names}
            cpu: dict[str, list[float]] = {name: [] for name in names}
            for _ in range(args.rounds):
                for name, server in baselines.items():
                    before = server.cpu_seconds()
                    result = trio.run(closed_loop_lean, server.url, conns, args.seconds, ping_frame)
                    rps[name].append(result["rps"])
                    cpu[name].append((server.cpu_seconds() - before) / result["count"] * 1e6)
                for workload, kinds in workloads.items():
                    name = f"gateway {workload}"
                    before = gw.cpu_seconds()
                    # Connection i is user i % USERS's (a user has at most 16 playback sessions).
                    result = trio.run(lambda: closed_loop_lean(
                        gw.url, conns, args.seconds, ping_frame,
                        lambda i: [("Authorization", f"Bearer {tokens[i % len(tokens)]}")],
                        prepare=prepare_for(Workload(kinds, ids, words)), is_request=is_request))
                    rps[name].append(result["rps"])
                    cpu[name].append((gw.cpu_seconds() - before) / result["count"] * 1e6)
            print(f"\n{conns} connections, {args.rounds} rounds of {args.seconds} s: median (min-max)")
            print(f"  {'server / workload':<34} {'messages/s':>22} {'server CPU us/message':>24}")
            for name in names:
                print(f"  {name:<34} {spread(rps[name], '.0f'):>22} {spread(cpu[name], '.1f'):>24}")
            for name in names[len(baselines):]:
                ratios = [a / b for a, b in zip(cpu[name], cpu["fastapi+uvicorn"])]
                print(f"  {name} CPU/message vs fastapi+uvicorn's ping: {spread(ratios, '.2f')}")
        print("load:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip(), flush=True)
    finally:
        gw.stop()
        for server in baselines.values():
            server.stop()


if __name__ == "__main__":
    os.chdir(ROOT)
    main()
