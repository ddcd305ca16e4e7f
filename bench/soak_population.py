"""The soak's population: viewers, searchers, refreshers, assigners, an admin and
hostile clients, each a task with its own connection (see bench/soak.py)."""

from __future__ import annotations

import itertools
import random
import secrets
import time
from typing import TYPE_CHECKING, Any

import orjson
import trio
from trio_websocket import ConnectionClosed, HandshakeError, open_websocket_url

from soak_cluster import Cluster, Ledger, Slot, Stats
from tests.e2e.rawws import BINARY, CONT, TEXT, encode_frame, random_key, upgrade_request

if TYPE_CHECKING:
    from soak import Soak

PASSWORD = "soak password 1234"
DURATION_MS = 7_200_000  # every soak title is two hours long
SPEED = 100  # content milliseconds per real millisecond while a viewer watches
ABUSES = ("reset_garbage", "reset_upgrade", "bad_utf8", "binary", "unfinished", "flood", "deep", "out_of_range")
"""What `Hostile` clients do, each a method of theirs."""


class Lost(Exception):
    """The connection went away before the answer."""


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
        with trio.move_on_after(10):  # a dying process drops its sockets well before it is gone
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
        found = await resume_position(rpc, key[1])
        if found is None:
            ledger.crash_unchecked += 1
            return
        ledger.crash_checks += 1
        if found < max(owed):
            ledger.crash_losses.append(f"{key}: owed {max(owed)} after a crash, resume says {found}")


async def resume_position(rpc: Rpc, content_id: str) -> int | None:
    """`playback.resume`'s position, asked until it answers (the database may be away
    for a while); None if it never did."""
    for _ in range(40):
        answer = await rpc.call("playback.resume", {"content_id": content_id})
        if "result" in answer:
            return int(answer["result"]["position_ms"])
        await trio.sleep(float((answer["error"].get("data") or {}).get("retry_after", 0.5)))
    return None


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
        abuses = [getattr(self, name) for name in self.ctx.args.abuses.split(",")]
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


