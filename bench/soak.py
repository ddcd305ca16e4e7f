"""Soak with faults (issue 16 item 5): a realistic population against real gateway
processes for a given time, with nodes killed and the outside services cut, then
invariants checked and figures printed.

    python bench/soak.py --seconds 600 --nodes 2 --viewers 40

The population, each member a task with its own account and connection:

- viewers: start a title, report positions (requests, so each is acknowledged) every
  0.25 s for a few seconds, stop, go on with another title; after a connection loss they
  carry on with the same session on any live node;
- searchers: type a title letter by letter (`search.autocomplete` per key), then run
  `search.query` with filters and follow a cursor;
- refreshers: rotate their refresh token every few seconds, sometimes presenting the
  same token twice (an answer lost on a phone), and use the new access token;
- assigners: `experiments.assign` for themselves and for named users, checking the
  answer never changes;
- an admin: creates experiments, upserts titles, registers accounts now and then;
- hostile clients: malformed and reset handshakes, invalid UTF-8, binary frames,
  unfinished messages, floods, deep nesting, numbers past every range.

Faults, one at a time every `--fault-every` seconds, in turn: kill -9 of a node (started
again at once), PostgreSQL cut off for `--outage` seconds, Redis cut off likewise. The
services are reached through TCP proxies of this script's own (`tests.support.FlakyProxy`),
so the shared PostgreSQL and Redis are never stopped. With `--sqlite` (one node) only the
kill applies.

Invariants, checked at the end (exit 1 if one fails):

- every request was answered, except those on a connection to a node killed meanwhile;
- acknowledged writes lost: 0 (every answered `playback.stop` is what `playback.resume`
  says afterwards, every registered account logs in, every created experiment and
  upserted title is there);
- positions lost: 0 (for every session not stopped, `playback.resume` afterwards is at
  least the last position acknowledged more than flush interval + margin before the
  node holding it was killed, the margin also covering a database outage);
- assignments sticky: a user's variant never changed;
- no node exited but those killed by the script.

Figures: requests sent and answered by method and outcome, the faults that fired, RSS
and open files of each node process at its start and at the end, actor crashes.

The population is in bench/soak_population.py, the processes and the books in
bench/soak_cluster.py; this file runs them, injects the faults and checks.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import random
import secrets
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import trio  # noqa: E402
from trio_websocket import open_websocket_url  # noqa: E402

from soak_cluster import Cluster, Ledger, Stats, rss_fds, metric  # noqa: E402
from soak_population import (  # noqa: E402
    ABUSES, DURATION_MS, PASSWORD, Admin, Assigner, Hostile, Member, Refresher, Rpc, Searcher, Viewer, resume_position)
from tests.support import FlakyProxy  # noqa: E402


class Soak:
    def __init__(self, args: argparse.Namespace, cluster: Cluster, proxies: dict[str, FlakyProxy]) -> None:
        self.args, self.cluster, self.proxies = args, cluster, proxies
        self.stats = Stats()
        self.ledger = Ledger()
        self.stopping = trio.Event()
        self.admin_token = ""
        self.title_names: list[str] = []
        self.base_experiments: list[str] = []

    async def setup(self) -> list[str]:
        """The catalog and experiments everyone uses; returns the title ids."""
        email = f"admin-{secrets.token_hex(3)}@soak.example"
        await trio.to_thread.run_sync(self._create_admin, email)
        slot = self.cluster.slots[0]
        assert slot.url is not None
        async with open_websocket_url(slot.url) as ws:
            rpc = Rpc(ws, slot, Stats(), self.ledger, self.cluster)
            login = await rpc.call("auth.login", {"email": email, "password": PASSWORD})
            self.admin_token = login["result"]["access_token"]
        rng = random.Random(self.args.seed)
        words = ["Silent", "River", "Matrix", "Winter", "Empire", "Shadow", "Garden", "Harbor", "Signal", "Echo",
                 "Amber", "Falcon", "Orbit", "Lantern", "Meadow", "Cipher", "Velvet", "Summit", "Mirror", "Tide"]
        ids = [f"soak-{i:04d}" for i in range(self.args.titles)]
        items = [{"id": cid, "title": f"{rng.choice(words)} {rng.choice(words)} {i}", "type": "movie",
                  "year": 1950 + i % 75, "genres": [rng.choice(["Drama", "Comedy", "Action"])],
                  "platforms": ["web"], "rating": round(rng.uniform(1, 9), 1), "popularity": rng.uniform(0, 1000),
                  "duration_ms": DURATION_MS} for i, cid in enumerate(ids)]
        self.title_names = [item["title"] for item in items]
        async with open_websocket_url(slot.url, extra_headers=[("Authorization", f"Bearer {self.admin_token}")]) as ws:
            rpc = Rpc(ws, slot, Stats(), self.ledger, self.cluster)
            for start in range(0, len(items), 500):
                answer = await rpc.call("content.upsert", {"items": items[start:start + 500]}, timeout=60)
                assert "result" in answer, answer
            self.ledger.titles.update(ids)
            for n in range(3):
                exp = f"soak-base-{n}-{secrets.token_hex(2)}"
                answer = await rpc.call("experiments.create", {"id": exp, "name": exp, "variants": [
                    {"name": "control", "weight": 2}, {"name": "treatment", "weight": 1}]})
                assert "result" in answer, answer
                self.base_experiments.append(exp)
                self.ledger.experiments.add(exp)
        return ids

    def _create_admin(self, email: str) -> None:
        import subprocess

        direct = [] if self.args.sqlite else ["--database-url", self.args.direct_database_url]
        subprocess.run([sys.executable, str(ROOT / "main.py"), "create-user", "--data-dir",
                        str(self.cluster.work / "node0"), *direct, "--email", email, "--password", PASSWORD,
                        "--admin"], check=True, capture_output=True, cwd=ROOT)

    async def faults(self) -> None:
        kinds = [k for k in self.args.faults.split(",") if k and k != "none"]
        if self.args.sqlite:
            kinds = [k for k in kinds if k == "kill"]
        turn = 0
        while kinds:
            await trio.sleep(self.args.fault_every)
            if self.stopping.is_set():
                return
            kind = kinds[turn % len(kinds)]
            slot = self.cluster.slots[turn // len(kinds) % len(self.cluster.slots)]
            turn += 1
            began = time.monotonic()
            if kind == "kill":
                if slot.url is None:
                    continue
                await self.cluster.kill(slot)
                await trio.sleep(1)
                await self.cluster.start(slot)
                what = f"kill -9 of node {slot.index}, started again"
            else:
                proxy = self.proxies[kind]
                proxy.cut()
                await trio.sleep(self.args.outage)
                proxy.restore()
                if kind == "pg":
                    self.cluster.db_outages.append((began, time.monotonic()))
                what = f"{'PostgreSQL' if kind == 'pg' else 'Redis'} cut off for {self.args.outage:.0f} s"
            self.cluster.faults.append((began - self.cluster.started, time.monotonic() - self.cluster.started, what))
            print(f"[{began - self.cluster.started:6.1f} s] {what}", flush=True)

    async def run(self) -> None:
        ids = await self.setup()
        rng = random.Random(self.args.seed)
        rng.shuffle(ids)
        per = max(1, len(ids) // max(1, self.args.viewers))
        members: list[Member] = []
        members += [Viewer(f"viewer{i}", self, ids[i * per:(i + 1) * per]) for i in range(self.args.viewers)]
        members += [Searcher(f"searcher{i}", self) for i in range(self.args.searchers)]
        members += [Refresher(f"refresher{i}", self) for i in range(self.args.refreshers)]
        members += [Assigner(f"assigner{i}", self) for i in range(self.args.assigners)]
        members += [Admin("admin", self)] + [Hostile(f"hostile{i}", self) for i in range(self.args.hostile)]
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self.cluster.watch)
            nursery.start_soon(self.faults)
            async with trio.open_nursery() as population:
                for member in members:
                    population.start_soon(member.run)
                await trio.sleep(self.args.seconds)
                self.stopping.set()
                print(f"[{time.monotonic() - self.cluster.started:6.1f} s] stopping the population", flush=True)
                with trio.move_on_after(30):
                    while any(m.busy() for m in members):
                        await trio.sleep(0.1)
                population.cancel_scope.cancel()
            for proxy in self.proxies.values():
                proxy.restore()
            nursery.cancel_scope.cancel()

    async def verify(self) -> list[str]:
        """Read everything acknowledged back; the invariants that failed."""
        failures: list[str] = []
        margin = self.args.flush_interval + self.args.margin
        # Everything written behind is written once no node holds an unflushed position.
        with trio.move_on_after(30):
            while True:
                admins = [s.process.admin for s in self.cluster.live() if s.process is not None]
                if not any([await trio.to_thread.run_sync(metric, a, "mg_playback_unflushed") for a in admins]):
                    break
                await trio.sleep(0.1)
        slot = self.cluster.live()[0]
        async with open_websocket_url(slot.url, extra_headers=[("Authorization", f"Bearer {self.admin_token}")]) as ws:
            rpc = Rpc(ws, slot, Stats(), self.ledger, self.cluster)
            missing_exp = [e for e in sorted(self.ledger.experiments)
                           if not await has_result(rpc, "experiments.get", {"id": e})]
            missing_titles = [t for t in sorted(self.ledger.titles)
                              if not await has_result(rpc, "content.get", {"id": t})]
            no_login = [email for email, password in sorted(self.ledger.accounts.items())
                        if not await has_result(rpc, "auth.login", {"email": email, "password": password})]
        lost_stops: list[str] = []
        lost_positions: list[str] = []
        pairs = set(self.ledger.stops) | set(self.ledger.positions)
        by_user: dict[str, list[tuple[str, str]]] = collections.defaultdict(list)
        for user, content in pairs:
            by_user[user].append((user, content))
        for user, keys in by_user.items():
            token = self.ledger.tokens[user]
            async with open_websocket_url(slot.url, extra_headers=[("Authorization", f"Bearer {token}")]) as ws:
                rpc = Rpc(ws, slot, Stats(), self.ledger, self.cluster)
                for key in keys:
                    found = await resume_position(rpc, key[1])
                    if found is None:
                        failures.append(f"playback.resume never answered for {key}")
                        continue
                    if key in self.ledger.stops:
                        if found != self.ledger.stops[key]:
                            lost_stops.append(f"{key}: stopped at {self.ledger.stops[key]}, resume says {found}")
                        continue
                    owed = [p for p, t, node in self.ledger.positions[key]
                            if not self.cluster.killed_between(node, t, self.cluster.db_down_until(t) + margin)]
                    if owed and found < max(owed):
                        lost_positions.append(f"{key}: owed {max(owed)}, resume says {found}")
        self.written = {
            "accounts registered": len(self.ledger.accounts), "experiments created": len(self.ledger.experiments),
            "titles upserted": len(self.ledger.titles), "stops answered": len(self.ledger.stops),
            "sessions reporting positions": len(self.ledger.positions),
            "positions acknowledged": sum(len(v) for v in self.ledger.positions.values()),
        }
        lost = len(missing_exp) + len(missing_titles) + len(no_login) + len(lost_stops)
        print(f"\nacknowledged writes lost: {lost} (experiments {len(missing_exp)}, titles {len(missing_titles)}, "
              f"accounts {len(no_login)}, stops {len(lost_stops)})")
        lost_positions += self.ledger.crash_losses
        print(f"positions lost older than flush interval + {self.args.margin:.1f} s: {len(lost_positions)} "
              f"(read back right after a crash: {self.ledger.crash_checks} sessions, "
              f"{self.ledger.crash_unchecked} could not be read; at the end: "
              f"{len(self.ledger.positions) - len(self.ledger.stops)} sessions not stopped)")
        for line in (missing_exp + missing_titles + no_login + lost_stops + lost_positions)[:20]:
            print("   ", line)
        if lost:
            failures.append(f"{lost} acknowledged writes lost")
        if lost_positions:
            failures.append(f"{len(lost_positions)} positions lost")
        if self.ledger.assignment_changes:
            failures.append(f"{self.ledger.assignment_changes} assignments changed")
        if self.ledger.unanswered_live:
            failures.append(f"{len(self.ledger.unanswered_live)} requests unanswered on live nodes: "
                            f"{self.ledger.unanswered_live[:5]}")
        for s in self.cluster.slots:
            for exit_ in s.unexpected_exits:
                failures.append(f"node {s.index} exited on its own, {exit_}")
        return failures


async def has_result(rpc: Rpc, method: str, params: dict[str, Any]) -> bool:
    """Whether `method` answers with a result, asking again while the gateway says to
    retry (-32006: over the rate limit or overloaded; -32007: timed out)."""
    for _ in range(50):
        answer = await rpc.call(method, params)
        if "result" in answer:
            return True
        if answer["error"]["code"] not in (-32006, -32007):
            return False
        await trio.sleep(float((answer["error"].get("data") or {}).get("retry_after", 0.2)))
    return False


def report(soak: Soak, seconds: float) -> None:
    cluster = soak.cluster
    print(f"\n== soak: {seconds:.0f} s, {len(cluster.slots)} node(s), "
          f"{'SQLite' if soak.args.sqlite else 'PostgreSQL + Redis'}; load {os.getloadavg()[0]:.1f}")
    print("\nfaults that fired:")
    for began, ended, what in cluster.faults:
        print(f"  {began:7.1f}-{ended:7.1f} s  {what}")
    if not cluster.faults:
        print("  none")
    print("\nrequests by method (sent, answered, outcomes):")
    print(soak.stats.table())
    print("\nrefresh retries with the same token:", dict(soak.ledger.refresh_retries) or "none")
    print("assignments checked:", len(soak.ledger.assignments), "changed:", soak.ledger.assignment_changes)
    print("written and read back:", soak.written)
    print("\nnodes (RSS MiB / open files):")
    for s in cluster.slots:
        first = s.starts[0] if s.starts else (0, 0, 0)
        end = rss_fds(s.process.proc.pid) if s.process and s.process.proc.poll() is None else (0, 0)
        crashes = metric(s.process.admin, "mg_actor_crashes_total") if s.process and s.process.proc.poll() is None else float("nan")
        print(f"  node {s.index}: at first start {first[1] >> 20} / {first[2]}, at the last start "
              f"{s.starts[-1][1] >> 20} / {s.starts[-1][2]}, at the end {end[0] >> 20} / {end[1]}; "
              f"killed {len(s.kills)}x; actor crashes since its last start {crashes:.0f}")


def _with_port(url: str, port: int) -> str:
    parts = urlsplit(url)
    user, _, _ = parts.netloc.rpartition("@")
    return urlunsplit(parts._replace(netloc=(user + "@" if user else "") + f"127.0.0.1:{port}"))


async def _admin_sql(url: str, statement: str) -> None:
    import asyncpg

    con = await asyncpg.connect(url, timeout=5)
    try:
        await con.execute(statement)
    finally:
        await con.close()


async def main_async(args: argparse.Namespace, work: Path) -> int:
    proxies: dict[str, FlakyProxy] = {}
    started = time.monotonic()
    async with trio.open_nursery() as nursery:
        database_url = redis_url = None
        if not args.sqlite:
            pg = urlsplit(args.direct_database_url)
            proxies["pg"] = FlakyProxy(pg.hostname or "127.0.0.1", pg.port or 5432)
            database_url = _with_port(args.direct_database_url, await nursery.start(proxies["pg"].run))
            rd = urlsplit(args.redis_url)
            proxies["redis"] = FlakyProxy(rd.hostname or "127.0.0.1", rd.port or 6379)
            redis_url = _with_port(args.redis_url, await nursery.start(proxies["redis"].run))
        cluster = Cluster(args, work, database_url, redis_url)
        soak = Soak(args, cluster, proxies)
        try:
            for slot in cluster.slots:
                await cluster.start(slot)
            await soak.run()
            failures = await soak.verify()
            report(soak, time.monotonic() - started)
            for slot in cluster.slots:
                if slot.process is not None and slot.process.proc.poll() is None:
                    code = await trio.to_thread.run_sync(slot.process.terminate, 30)
                    if code != 0:
                        failures.append(f"node {slot.index} stopped with exit code {code}")
        finally:
            for slot in cluster.slots:
                if slot.process is not None:
                    slot.process.kill()
            nursery.cancel_scope.cancel()
    print("\ninvariants:", "all hold" if not failures else "FAILED")
    for failure in failures:
        print("  -", failure)
    return 1 if failures else 0


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--seconds", type=float, default=600, help="how long the population runs (default 600)")
    p.add_argument("--nodes", type=int, default=2, help="gateway processes (default 2)")
    p.add_argument("--viewers", type=int, default=40)
    p.add_argument("--searchers", type=int, default=10)
    p.add_argument("--refreshers", type=int, default=10)
    p.add_argument("--assigners", type=int, default=10)
    p.add_argument("--hostile", type=int, default=3, help="hostile clients (default 3)")
    p.add_argument("--abuses", default=",".join(ABUSES),
                   help="what the hostile clients do, in turn (default all: %(default)s)")
    p.add_argument("--titles", type=int, default=4000,
                   help="titles in the soak catalog, shared out among the viewers (default 4000)")
    p.add_argument("--faults", default="kill,pg,redis", help="faults to inject in turn: kill,pg,redis or none")
    p.add_argument("--fault-every", type=float, default=30, help="seconds between faults (default 30)")
    p.add_argument("--outage", type=float, default=5, help="seconds a service stays cut off (default 5)")
    p.add_argument("--flush-interval", type=float, default=1.0, help="--playback-flush-interval of the nodes")
    p.add_argument("--margin", type=float, default=2.0,
                   help="seconds past the flush interval a position may still be unwritten at a kill (the write "
                        "under way; after a database outage 5 s more are allowed) (default 2)")
    p.add_argument("--sqlite", action="store_true", help="one node on SQLite, no Redis")
    p.add_argument("--database-url", dest="admin_database_url",
                   default=os.environ.get("MG_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"),
                   help="a PostgreSQL server to make a fresh database on (dropped at the end)")
    p.add_argument("--redis-url", default=os.environ.get("MG_TEST_REDIS_URL", "redis://127.0.0.1:6379/0"))
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--argon2", choices=["test", "default"], default="test",
                   help="password hashing cost: the cheap test profile (default) or production's")
    args = p.parse_args(argv)
    unknown = set(args.abuses.split(",")) - set(ABUSES)
    if unknown:
        p.error(f"unknown abuses: {', '.join(sorted(unknown))}")
    if args.sqlite:
        args.nodes = 1
    return args


def main(argv: list[str] | None = None) -> int:
    import tempfile

    args = parse(argv)
    if args.argon2 == "test":
        os.environ["MG_ARGON2_PROFILE"] = "test"
    database = f"mg_soak_{secrets.token_hex(4)}"
    args.direct_database_url = ""
    if not args.sqlite:
        asyncio.run(_admin_sql(args.admin_database_url, f'CREATE DATABASE "{database}"'))
        parts = urlsplit(args.admin_database_url)
        args.direct_database_url = urlunsplit(parts._replace(path="/" + database))
    try:
        with tempfile.TemporaryDirectory(prefix="soak-") as work:
            return trio.run(main_async, args, Path(work))
    finally:
        if not args.sqlite:
            asyncio.run(_admin_sql(args.admin_database_url, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))


if __name__ == "__main__":
    sys.exit(main())
