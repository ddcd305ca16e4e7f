"""The soak's side of the world: the gateway processes it runs, kills and starts again,
what it counts and what the gateway acknowledged (see bench/soak.py)."""

from __future__ import annotations

import argparse
import collections
import os
import random
import signal
import time
from pathlib import Path

import trio

from tests.support import GatewayProcess

SECRET = "soak-secret-" + "s" * 40
DB_RECOVERY = 5.0  # seconds after a database outage before writes are owed again (the default --db-timeout)


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
        self.crash_unchecked = 0  # ... and those whose read kept failing
        self.crash_losses: list[str] = []



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


def rss_fds(pid: int) -> tuple[int, int]:
    try:
        with open(f"/proc/{pid}/status") as status:
            rss = next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmRSS:"))
        return rss, len(os.listdir(f"/proc/{pid}/fd"))
    except (OSError, StopIteration):
        return 0, 0


def metric(admin_url: str, name: str) -> float:
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
        """Start the slot's process, again and again while it cannot (a node does not
        start while the database is cut off)."""
        data_dir = self.work / f"node{slot.index}"
        while True:
            try:
                slot.process = await trio.to_thread.run_sync(lambda: GatewayProcess(data_dir, *self.argv(slot)))
                break
            except (RuntimeError, StopIteration):
                await trio.sleep(1)
        rss, fds = rss_fds(slot.process.proc.pid)
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


