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
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import itertools
import os
import random
import secrets
import signal
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import orjson  # noqa: E402
import trio  # noqa: E402
from trio_websocket import ConnectionClosed, HandshakeError, open_websocket_url  # noqa: E402

from tests.e2e.rawws import BINARY, CONT, TEXT, encode_frame, random_key, upgrade_request  # noqa: E402
from tests.support import FlakyProxy, GatewayProcess  # noqa: E402

PASSWORD = "soak password 1234"
DURATION_MS = 7_200_000  # every soak title is two hours long
SPEED = 100  # content milliseconds per real millisecond while a viewer watches
SECRET = "soak-secret-" + "s" * 40
DB_RECOVERY = 5.0  # seconds after a database outage before writes are owed again (the default --db-timeout)


# -- bookkeeping ---------------------------------------------------------------------


class Stats:
    """Requests sent and their outcomes, by method."""

    def __init__(self) -> None:
        self.sent: collections.Counter[str] = collections.Counter()
        self.outcomes: collections.Counter[tuple[str, str]] = collections.Counter()

    def table(self) -> str:
        lines = [f"{'method':28} {'sent':>8} {'answered':>9}  outcomes"]
        for method in sorted(self.sent):
            outs = {o: n for (m, o), n in self.outcomes.items() if m == method}
            answered = sum(n for o, n in outs.items() if not o.startswith("unanswered"))
            detail = ", ".join(f"{o} {n}" for o, n in sorted(outs.items(), key=lambda x: -x[1]))
            lines.append(f"{method:28} {self.sent[method]:8} {answered:9}  {detail}")
        return "\n".join(lines)


class Ledger:
    """What the gateway acknowledged, to be found again at the end."""

    def __init__(self) -> None:
        self.accounts: dict[str, str] = {}  # email -> password
        self.experiments: set[str] = set()
        self.titles: set[str] = set()
        self.stops: dict[tuple[str, str], int] = {}  # (user token, content) -> answered position
        self.positions: dict[tuple[str, str], list[tuple[int, float, int]]] = collections.defaultdict(list)
        self.tokens: dict[str, str] = {}  # user id -> an access token to ask resume with
        self.assignments: dict[tuple[str, str], str] = {}
        self.assignment_changes = 0
        self.refresh_retries: collections.Counter[str] = collections.Counter()
        self.unanswered_live: list[str] = []
        self.crash_checks = 0  # sessions whose durable position was read back right after a crash
        self.crash_losses: list[str] = []


class Lost(Exception):
    """The connection went away before the answer."""


# -- the cluster -------------------------------------------------------------------------


class Slot:
    """One node position: its current process, and what happened to it."""

    def __init__(self, index: int) -> None:
        self.index = index
        self.process: GatewayProcess | None = None
        self.kills: list[float] = []
        self.deaths: list[float] = []  # kills and exits of its own
        self.starts: list[tuple[float, int, int]] = []  # (time, rss, fds) at each start
        self.unexpected_exits: list[str] = []

    @property
    def url(self) -> str | None:
        if self.process is None or self.process.proc.poll() is not None:
            return None
        return self.process.url


def _rss_fds(pid: int) -> tuple[int, int]:
    try:
        with open(f"/proc/{pid}/status") as status:
            rss = next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmRSS:"))
        return rss, len(os.listdir(f"/proc/{pid}/fd"))
    except (OSError, StopIteration):
        return 0, 0


def _metric(admin_url: str, name: str) -> float:
    """The sum of the samples of `name` on a node's /metrics (nan when unreachable)."""
    import socket

    host, port = admin_url.replace("http://", "").split(":")
    try:
        with socket.create_connection((host, int(port)), timeout=5) as sock:
            sock.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
    except OSError:
        return float("nan")
    return sum(float(line.rsplit(" ", 1)[1]) for line in data.decode().splitlines()
               if line.startswith(name) and line[len(name):len(name) + 1] in (" ", "{"))


class Cluster:
    def __init__(self, args: argparse.Namespace, work: Path, database_url: str | None, redis_url: str | None) -> None:
        self.args = args
        self.work = work
        self.database_url = database_url
        self.redis_url = redis_url
        self.slots = [Slot(i) for i in range(args.nodes)]
        self.started = time.monotonic()
        self.faults: list[tuple[float, float, str]] = []  # (start, end, what)
        self.db_outages: list[tuple[float, float]] = []

    def argv(self, slot: Slot) -> list[str]:
        argv = ["--jwt-secret", SECRET, "--playback-flush-interval", str(self.args.flush_interval),
                "--shutdown-timeout", "15"]
        if self.database_url:
            argv += ["--database-url", self.database_url]
        if self.redis_url:
            argv += ["--redis-url", self.redis_url]
        return argv

    async def start(self, slot: Slot) -> None:
        data_dir = self.work / f"node{slot.index}"
        slot.process = await trio.to_thread.run_sync(lambda: GatewayProcess(data_dir, *self.argv(slot)))
        rss, fds = _rss_fds(slot.process.proc.pid)
        slot.starts.append((time.monotonic(), rss, fds))

    async def kill(self, slot: Slot) -> None:
        assert slot.process is not None
        slot.kills.append(time.monotonic())
        slot.deaths.append(time.monotonic())
        slot.process.proc.send_signal(signal.SIGKILL)
        await trio.to_thread.run_sync(slot.process.wait, 30)

    def live(self) -> list[Slot]:
        return [slot for slot in self.slots if slot.url is not None]

    def pick(self, rng: random.Random) -> Slot | None:
        live = self.live()
        return rng.choice(live) if live else None

    def killed_between(self, slot_index: int, start: float, end: float) -> bool:
        return any(start <= k < end for k in self.slots[slot_index].deaths)

    def db_down_until(self, t: float) -> float:
        """When the database could take writes again for something acknowledged at `t`:
        `t`, or the end of an outage going on then plus `DB_RECOVERY` (reconnecting a pool
        takes up to a database call's timeout)."""
        for begin, end in self.db_outages:
            if begin <= t <= end + DB_RECOVERY:
                return end + DB_RECOVERY
        return t

    async def watch(self) -> None:
        """A node that exits without being killed (SIGKILL) by the script is noted (an
        invariant fails) and started again, so the rest of the run still measures."""
        while True:
            for slot in self.slots:
                p = slot.process
                if p is not None and p.proc.poll() not in (None, -signal.SIGKILL):
                    slot.deaths.append(time.monotonic())
                    last = next((line.strip(" |\n") for line in reversed(p.lines) if line.strip(" |+-\n")), "")
                    slot.unexpected_exits.append(f"exit {p.proc.returncode} at "
                                                 f"{time.monotonic() - self.started:.1f} s: {last}")
                    print(f"[{time.monotonic() - self.started:6.1f} s] node {slot.index} exited on its own "
                          f"({p.proc.returncode}); starting it again", flush=True)
                    await self.start(slot)
            await trio.sleep(0.5)


# -- a client connection -------------------------------------------------------------------


class Rpc:
    """Sequential JSON-RPC calls on one connection, counted in `stats`."""

    _ids = itertools.count(1)

    def __init__(self, ws: Any, slot: Slot, stats: Stats, ledger: Ledger, cluster: Cluster) -> None:
        self.ws, self.slot, self.stats, self.ledger, self.cluster = ws, slot, stats, ledger, cluster
        self.process = slot.process

    async def call(self, method: str, params: Any = None, timeout: float = 30.0) -> dict[str, Any]:
        rid = next(self._ids)
        doc: dict[str, Any] = {"jsonrpc": "2.0", "id": rid, "method": method}
        if params is not None:
            doc["params"] = params
        self.stats.sent[method] += 1
        sent_at = time.monotonic()
        try:
            with trio.fail_after(timeout):
                await self.ws.send_message(orjson.dumps(doc).decode())
                while True:
                    answer = orjson.loads(await self.ws.get_message())
                    if isinstance(answer, dict) and answer.get("id") == rid:
                        break
        except ConnectionClosed as exc:
            code = exc.reason.code if exc.reason is not None else None
            await self._unanswered(method, sent_at, f"closed {code}", explained=code in (4401, 1001))
            raise Lost(method) from exc
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as exc:
            await self._unanswered(method, sent_at, "connection lost")
            raise Lost(method) from exc
        except trio.TooSlowError:
            await self._unanswered(method, sent_at, "timed out")
            raise Lost(method) from None
        if "error" in answer:
            self.stats.outcomes[(method, str(answer["error"]["code"]))] += 1
        else:
            self.stats.outcomes[(method, "ok")] += 1
        return answer

    async def _unanswered(self, method: str, sent_at: float, why: str, explained: bool = False) -> None:
        """A request without an answer: explained when its node was killed (or died) or
        the server closed on purpose (4401: the family was revoked; 1001: shutdown)."""
        with trio.move_on_after(2):  # a dying process drops its sockets before it is gone
            while self.process is not None and self.process.proc.poll() is None:
                await trio.sleep(0.05)
        killed = self.cluster.killed_between(self.slot.index, sent_at - 1, time.monotonic() + 1)
        if killed or self.process is None or self.process.proc.poll() is not None:
            self.stats.outcomes[(method, "unanswered: node killed")] += 1
        elif explained:
            self.stats.outcomes[(method, f"unanswered: {why}")] += 1
        else:
            self.stats.outcomes[(method, f"unanswered: {why}")] += 1
            self.ledger.unanswered_live.append(f"{method} on node {self.slot.index}: {why}")


class Member:
    """One simulated client: reconnects to a live node whenever it needs to."""

    def __init__(self, name: str, ctx: "Soak") -> None:
        self.name, self.ctx = name, ctx
        self.rng = random.Random(f"{ctx.args.seed}-{name}")
        self.token: str | None = None

    async def connect(self) -> tuple[Any, Rpc]:
        while True:
            slot = self.ctx.cluster.pick(self.rng)
            if slot is not None and slot.url is not None:
                headers = [("Authorization", f"Bearer {self.token}")] if self.token else None
                try:
                    cm = open_websocket_url(slot.url, extra_headers=headers, connect_timeout=5)
                    ws = await cm.__aenter__()
                    return cm, Rpc(ws, slot, self.ctx.stats, self.ctx.ledger, self.ctx.cluster)
                except (OSError, HandshakeError, ConnectionClosed, trio.TooSlowError, trio.BrokenResourceError):
                    pass
            await trio.sleep(0.2)

    async def session(self) -> tuple[Any, Rpc]:
        return await self.connect()

    @staticmethod
    async def close(cm: Any) -> None:
        with trio.move_on_after(2):
            try:
                await cm.__aexit__(None, None, None)
            except BaseException:
                pass

    async def register(self, rpc: Rpc) -> dict[str, Any]:
        """A new account, logged in (retried while the database is away)."""
        while True:
            email = f"{self.name}-{secrets.token_hex(3)}@soak.example"
            answer = await rpc.call("auth.register", {"email": email, "password": PASSWORD})
            if "result" in answer:
                break
            await trio.sleep(0.5)
        self.ctx.ledger.accounts[email] = PASSWORD
        while "result" not in (login := await rpc.call("auth.login", {"email": email, "password": PASSWORD})):
            await trio.sleep(0.5)
        self.token = login["result"]["access_token"]
        await rpc.call("auth.authenticate", {"access_token": self.token})  # this connection is the user's now
        self.ctx.ledger.tokens[login["result"]["user_id"]] = self.token
        return {**login["result"], "email": email}

    async def run(self) -> None:
        while not self.ctx.stopping.is_set() or self.busy():
            cm, rpc = await self.connect()
            try:
                await self.live(rpc)
            except Lost:
                pass
            except Exception as exc:  # a bug of the soak's own: counted, shown, and carried on
                self.ctx.stats.outcomes[("soak client error", repr(exc)[:80])] += 1
                await trio.sleep(1)
            finally:
                await self.close(cm)

    def busy(self) -> bool:
        """Still owes the gateway something before it may stop (a viewer's session)."""
        return False

    async def live(self, rpc: Rpc) -> None:
        raise NotImplementedError


class Viewer(Member):
    def __init__(self, name: str, ctx: "Soak", titles: list[str]) -> None:
        super().__init__(name, ctx)
        self.titles = titles
        self.user: dict[str, Any] | None = None
        self.session: tuple[str, str, int] | None = None  # (session id, content, position)
        self.carry_on: dict[str, int] = {}  # content -> position, to start again from
        self.ends_at = 0.0

    def busy(self) -> bool:
        return self.session is not None

    async def live(self, rpc: Rpc) -> None:
        ledger = self.ctx.ledger
        if self.user is None:
            self.user = await self.register(rpc)
        if self.session is not None:  # back after losing the connection mid-session
            await self.check_durable(rpc, (self.user["user_id"], self.session[1]))
        while not self.ctx.stopping.is_set() or self.session is not None:
            if self.session is None:
                if not self.titles:  # watched everything it was given: idle to the end
                    await self.ctx.stopping.wait()
                    return
                content = self.titles.pop()
                answer = await rpc.call("playback.start", {"content_id": content, "device_id": self.name})
                if "error" in answer:
                    self.titles.append(content)
                    await trio.sleep(0.5)
                    continue
                start = self.carry_on.pop(content, DURATION_MS // 10 + self.rng.randrange(0, 100_000))
                self.session = (answer["result"]["session_id"], content, start)
                self.ends_at = time.monotonic() + self.rng.uniform(5, 40)
            session_id, content, position = self.session
            key = (self.user["user_id"], content)
            if time.monotonic() >= self.ends_at or self.ctx.stopping.is_set():
                answer = await rpc.call("playback.stop", {"session_id": session_id, "position_ms": position})
                if "result" in answer:
                    ledger.stops[key] = answer["result"]["position_ms"]
                    self.session = None
                elif answer["error"]["code"] == -32004:
                    self.session = None  # gone (idle, or never durable): positions still owed
                else:
                    await trio.sleep(0.5)
                continue
            position += 250 * SPEED
            answer = await rpc.call("playback.position", {"session_id": session_id, "position_ms": position})
            if "result" in answer:
                ledger.positions[key].append((position, time.monotonic(), rpc.slot.index))
                self.session = (session_id, content, position)
            elif answer["error"]["code"] == -32004:
                # The session is unknown where this node looks: start it again, from here.
                self.session = None
                self.carry_on[content] = position
                self.titles.append(content)
            await trio.sleep(0.25)

    async def check_durable(self, rpc: Rpc, key: tuple[str, str]) -> None:
        """Right after a crash: every position acknowledged by a node that has died since,
        a full flush interval + margin before it died, is what storage says now."""
        cluster, ledger = self.ctx.cluster, self.ctx.ledger
        window = self.ctx.args.flush_interval + self.ctx.args.margin
        owed = [p for p, t, node in ledger.positions[key]
                if any(d >= cluster.db_down_until(t) + window for d in cluster.slots[node].deaths if d >= t)]
        if not owed:
            return
        answer = await rpc.call("playback.resume", {"content_id": key[1]})
        found = answer.get("result", {}).get("position_ms", -1)
        ledger.crash_checks += 1
        if found < max(owed):
            ledger.crash_losses.append(f"{key}: owed {max(owed)} after a crash, resume says {found}")


class Searcher(Member):
    async def live(self, rpc: Rpc) -> None:
        titles = self.ctx.title_names
        while not self.ctx.stopping.is_set():
            title = self.rng.choice(titles)
            typed = title.lower()
            if self.rng.random() < 0.3 and len(typed) > 4:  # a typo
                i = self.rng.randrange(1, len(typed) - 1)
                typed = typed[:i] + typed[i + 1] + typed[i] + typed[i + 2:]
            for n in range(1, min(len(typed), 12) + 1):
                await rpc.call("search.autocomplete", {"q": typed[:n], "limit": 8})
                await trio.sleep(self.rng.uniform(0.05, 0.15))
            answer = await rpc.call("search.query", {"query": typed, "include_facets": True, "limit": 10,
                                                     "filters": {"year_min": 1950}})
            cursor = answer.get("result", {}).get("page_info", {}).get("next_cursor")
            if cursor:
                await rpc.call("search.query", {"query": typed, "limit": 10, "cursor": cursor,
                                                "filters": {"year_min": 1950}})
            await trio.sleep(self.rng.uniform(0.5, 2))


class Refresher(Member):
    grant: dict[str, Any] | None = None

    async def live(self, rpc: Rpc) -> None:
        ledger = self.ctx.ledger
        if self.grant is None:
            self.grant = await self.register(rpc)
        while not self.ctx.stopping.is_set():
            await trio.sleep(self.rng.uniform(1, 4))
            token = self.grant["refresh_token"]
            answer = await rpc.call("auth.refresh", {"refresh_token": token})
            if "error" in answer:
                if answer["error"]["code"] in (-32009, -32003, -32001):
                    login = await rpc.call("auth.login", {"email": self.grant["email"], "password": PASSWORD})
                    if "result" in login:
                        self.grant = {**login["result"], "email": self.grant["email"]}
                continue
            if self.rng.random() < 0.15:  # the answer was lost on the way: present it again
                again = await rpc.call("auth.refresh", {"refresh_token": token})
                same = again.get("result", {}).get("refresh_token") == answer["result"]["refresh_token"]
                ledger.refresh_retries["same pair" if same else f"{again.get('error', {}).get('code')}"] += 1
                if not same:
                    login = await rpc.call("auth.login", {"email": self.grant["email"], "password": PASSWORD})
                    if "result" in login:
                        self.grant = {**login["result"], "email": self.grant["email"]}
                    continue
            self.grant = {**answer["result"], "email": self.grant["email"]}
            await rpc.call("auth.authenticate", {"access_token": self.grant["access_token"]})
            await rpc.call("user.profile")


class Assigner(Member):
    async def live(self, rpc: Rpc) -> None:
        ledger = self.ctx.ledger
        while not self.ctx.stopping.is_set():
            experiment = self.rng.choice(self.ctx.base_experiments)
            user = f"{self.name}-u{self.rng.randrange(200)}"
            answer = await rpc.call("experiments.assign", {"experiment_id": experiment, "user_id": user})
            if "result" in answer:
                variant = answer["result"]["variant"]
                seen = ledger.assignments.setdefault((experiment, user), variant)
                if seen != variant:
                    ledger.assignment_changes += 1
            await trio.sleep(self.rng.uniform(0.02, 0.2))


class Admin(Member):
    async def live(self, rpc: Rpc) -> None:
        ledger = self.ctx.ledger
        self.token = self.ctx.admin_token
        while not self.ctx.stopping.is_set():
            await trio.sleep(self.rng.uniform(1, 3))
            roll = self.rng.random()
            if roll < 0.3:
                exp = f"soak-exp-{secrets.token_hex(3)}"
                answer = await rpc.call("experiments.create", {"id": exp, "name": exp, "variants": ["a", "b", "c"]})
                if "result" in answer:
                    ledger.experiments.add(exp)
            elif roll < 0.6:
                item = f"soak-new-{secrets.token_hex(3)}"
                answer = await rpc.call("content.upsert", {"items": [{
                    "id": item, "title": f"Fresh {item}", "type": "movie", "year": 2024, "duration_ms": DURATION_MS}]})
                if "result" in answer:
                    ledger.titles.add(item)
            else:
                email = f"signup-{secrets.token_hex(4)}@soak.example"
                answer = await rpc.call("auth.register", {"email": email, "password": PASSWORD})
                if "result" in answer:
                    ledger.accounts[email] = PASSWORD

    async def connect(self) -> tuple[Any, Rpc]:
        self.token = self.ctx.admin_token
        return await super().connect()


class Hostile(Member):
    """Cycles through abuses on raw sockets; counted apart (`hostile.*`), never judged
    by their answers: what counts is that everyone else is unharmed."""

    async def run(self) -> None:
        abuses = [self.reset_garbage, self.reset_upgrade, self.bad_utf8, self.binary, self.unfinished,
                  self.flood, self.deep, self.out_of_range]
        self.rng.shuffle(abuses)
        for abuse in itertools.cycle(abuses):  # each abuse in turn, so a short run has them all
            if self.ctx.stopping.is_set():
                return
            slot = self.ctx.cluster.pick(self.rng)
            if slot is None or slot.url is None:
                await trio.sleep(0.2)
                continue
            self.ctx.stats.sent[f"hostile.{abuse.__name__}"] += 1
            try:
                with trio.move_on_after(10):
                    await abuse(slot.url)
                self.ctx.stats.outcomes[(f"hostile.{abuse.__name__}", "done")] += 1
            except (OSError, trio.BrokenResourceError, trio.ClosedResourceError):
                self.ctx.stats.outcomes[(f"hostile.{abuse.__name__}", "cut off")] += 1
            await trio.sleep(self.rng.uniform(0.2, 1.0))

    @staticmethod
    def _address(url: str) -> tuple[str, int]:
        host, port = url.split("://", 1)[1].split("/", 1)[0].rsplit(":", 1)
        return host, int(port)

    async def _open(self, url: str, upgrade: bool = True) -> trio.SocketStream:
        stream = await trio.open_tcp_stream(*self._address(url))
        if upgrade:
            await stream.send_all(upgrade_request(key=random_key()))
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = await stream.receive_some(4096)
                if not chunk:
                    raise trio.BrokenResourceError("closed during the handshake")
                head += chunk
        return stream

    @staticmethod
    async def _reset(stream: trio.SocketStream) -> None:
        import socket
        import struct

        stream.socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        await stream.aclose()

    async def reset_garbage(self, url: str) -> None:
        """Malformed upgrades (TLS bytes, no key) reset before their 400."""
        for request in (b"\x16\x03\x01 not http \r\n\r\n", upgrade_request(key=None)) * 5:
            stream = await self._open(url, upgrade=False)
            await stream.send_all(request)
            await self._reset(stream)

    async def reset_upgrade(self, url: str) -> None:
        """Good and refused upgrades reset before their answer."""
        for request in (upgrade_request(key=random_key()), upgrade_request("/elsewhere", key=random_key())) * 5:
            stream = await self._open(url, upgrade=False)
            await stream.send_all(request)
            await self._reset(stream)

    async def bad_utf8(self, url: str) -> None:
        stream = await self._open(url)
        await stream.send_all(encode_frame(TEXT, b'{"jsonrpc":"2.0","id":1,"method":"\xff\xfe"}'))
        await self._drain(stream)

    async def binary(self, url: str) -> None:
        stream = await self._open(url)
        await stream.send_all(encode_frame(BINARY, b'{"jsonrpc":"2.0","id":1,"method":"system.ping"}'))
        await self._drain(stream)

    async def unfinished(self, url: str) -> None:
        stream = await self._open(url)
        await stream.send_all(encode_frame(TEXT, b'{"jsonrpc":"2.0","id":1,"params":"' + b"x" * 500_000, fin=False))
        await trio.sleep(self.rng.uniform(1, 5))
        await stream.send_all(encode_frame(CONT, b"y" * 1000, fin=False))
        await self._reset(stream)

    async def flood(self, url: str) -> None:
        stream = await self._open(url)
        frame = encode_frame(TEXT, b'{"jsonrpc":"2.0","id":1,"method":"system.ping"}')
        await stream.send_all(frame * 2000)
        await self._reset(stream)

    async def deep(self, url: str) -> None:
        stream = await self._open(url)
        nested = b"[" * 5000 + b"]" * 5000
        await stream.send_all(encode_frame(TEXT, b'{"jsonrpc":"2.0","id":1,"method":"content.list","params":{"x":'
                                           + nested + b"}}"))
        await self._drain(stream, 1)

    async def out_of_range(self, url: str) -> None:
        stream = await self._open(url)
        for text in (b'{"jsonrpc":"2.0","id":1,"method":"content.list","params":{"page":1e400}}',
                     b'{"jsonrpc":"2.0","id":2,"method":"content.list","params":{"page":18446744073709551616}}',
                     b'{"jsonrpc":"2.0","id":18446744073709551616,"method":"system.ping"}',
                     b'{"jsonrpc":"2.0","id":3,"method":"search.query","params":{"query":"x","filters":'
                     b'{"year_min":-9223372036854775809}}}'):
            await stream.send_all(encode_frame(TEXT, text))
        await self._drain(stream, 1)

    @staticmethod
    async def _drain(stream: trio.SocketStream, seconds: float = 3) -> None:
        with trio.move_on_after(seconds):
            while await stream.receive_some(65536):
                pass
        await stream.aclose()


# -- the run ---------------------------------------------------------------------------------


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
                if not any([await trio.to_thread.run_sync(_metric, a, "mg_playback_unflushed") for a in admins]):
                    break
                await trio.sleep(0.1)
        slot = self.cluster.live()[0]
        async with open_websocket_url(slot.url, extra_headers=[("Authorization", f"Bearer {self.admin_token}")]) as ws:
            rpc = Rpc(ws, slot, Stats(), self.ledger, self.cluster)
            missing_exp = [e for e in sorted(self.ledger.experiments)
                           if "result" not in await rpc.call("experiments.get", {"id": e})]
            missing_titles = [t for t in sorted(self.ledger.titles)
                              if "result" not in await rpc.call("content.get", {"id": t})]
            no_login = []
            for email, password in sorted(self.ledger.accounts.items()):
                if "result" not in await rpc.call("auth.login", {"email": email, "password": password}):
                    no_login.append(email)
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
                    answer = await rpc.call("playback.resume", {"content_id": key[1]})
                    found = answer.get("result", {}).get("position_ms", -1)
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
              f"(read back right after a crash: {self.ledger.crash_checks} sessions; at the end: "
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
        end = _rss_fds(s.process.proc.pid) if s.process and s.process.proc.poll() is None else (0, 0)
        crashes = _metric(s.process.admin, "mg_actor_crashes_total") if s.process and s.process.proc.poll() is None else float("nan")
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
