"""A gateway process under watch: its health and the resources a client could pin.

The hostile suite attacks a real `python main.py serve` over real sockets only, so it
keeps working whatever the transport and the modules inside look like. After each
attack a test calls `Node.check()`: the process is alive, answers a ping on a new
connection, its open files are back near the baseline taken when it was fresh, and its
resident memory stays within a stated bound of that baseline.
"""

from __future__ import annotations

import os
import secrets
import socket
import time
from pathlib import Path
from typing import Any

from tests.auth_helpers import PASSWORD, create_user_cli, fresh_email
from tests.e2e.rawws import RawClient, split_url
from tests.e2e.wsraw import rss_bytes
from tests.support import GatewayProcess

JWT_SECRET = "hostile-suite-secret-" + "k" * 40
"""Known to the tests, so they can sign tokens with claims the gateway never issues."""

FD_SLACK = 4
"""Open files the process may hold above its baseline once every client has gone
(a database connection opened lazily, a log file, a thread's eventfd)."""

RSS_BOUND = 96 << 20
"""The most resident memory may grow over the fresh baseline after an attack group,
once its clients have gone (caches warm up; the allocator keeps some freed memory)."""


class Node:
    """One gateway process (`start`), restarted on demand after a crash."""

    def __init__(self, data_dir: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.data_dir = data_dir
        self.args = ("--jwt-secret", JWT_SECRET, *args)
        self.env = env
        self.process: GatewayProcess | None = None
        self.baseline_fds = 0
        self.baseline_rss = 0
        self.users: dict[str, dict[str, Any]] = {}
        self.starts = 0
        self.crash_mark = 0.0

    # -- life ----------------------------------------------------------------------

    def start(self) -> "Node":
        self.starts += 1
        self.process = GatewayProcess(self.data_dir, *self.args, env=self.env)
        self.host, self.port, _ = split_url(self.url)
        # Warm up what a first client brings into being, then take the baseline.
        with RawClient.open(self.url) as client:
            assert client.result("system.ping") == {"pong": True}
        self.baseline_fds = self.wait_open_files(10_000)
        self.baseline_rss = self.rss()
        self.mark()
        return self

    def mark(self) -> None:
        """From here on `check()` expects no actor to crash."""
        self.crash_mark = self.actor_crashes()

    def ensure_running(self) -> "Node":
        """Start again (same data dir, same users) if an earlier test took it down or
        left it holding more memory than `RSS_BOUND` over its baseline."""
        if self.process is None or not self.alive() or not self._answers() or \
                self.rss() > self.baseline_rss + RSS_BOUND:
            if self.process is not None:
                self.process.kill()
            self.start()
        return self

    def _answers(self) -> bool:
        try:
            return self.ping().get("result") == {"pong": True}
        except (OSError, ConnectionError, AssertionError):
            return False

    def stop(self, timeout: float = 30) -> int:
        """SIGTERM; the exit code (the process is killed if it does not stop in time)."""
        assert self.process is not None
        try:
            return self.process.terminate(timeout)
        finally:
            self.process.kill()

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()

    @property
    def url(self) -> str:
        assert self.process is not None
        return self.process.url

    @property
    def admin(self) -> str:
        assert self.process is not None
        return self.process.admin

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.proc.pid

    @property
    def log(self) -> str:
        return self.process.log if self.process is not None else ""

    def alive(self) -> bool:
        return self.process is not None and self.process.proc.poll() is None

    # -- resources -----------------------------------------------------------------

    def open_files(self) -> int:
        return len(os.listdir(f"/proc/{self.pid}/fd"))

    def rss(self) -> int:
        """Resident memory in bytes (VmRSS)."""
        return rss_bytes(self.pid)

    def cpu_seconds(self) -> float:
        """utime + stime of the process so far."""
        with open(f"/proc/{self.pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def wait_open_files(self, at_most: int, timeout: float = 10.0) -> int:
        """Wait until the process holds at most `at_most` open files; the count."""
        deadline = time.monotonic() + timeout
        while True:
            count = self.open_files()
            if count <= at_most:
                return count
            if time.monotonic() > deadline:
                raise AssertionError(f"{count} open files, expected at most {at_most} "
                                     f"(baseline {self.baseline_fds})")
            time.sleep(0.05)

    # -- health --------------------------------------------------------------------

    def ping(self, timeout: float = 5.0) -> dict[str, Any]:
        with RawClient.open(self.url, timeout=timeout) as client:
            return client.call("system.ping")

    def check(self, *, rss_bound: int = RSS_BOUND, fd_slack: int = FD_SLACK, fd_timeout: float = 10.0) -> None:
        """The process survived: alive, a ping answered on a new connection, open
        files back near the baseline, memory within `rss_bound` of the baseline."""
        assert self.alive(), f"the gateway exited with {self.process.proc.returncode}:\n{self.tail()}"
        answer = self.ping()
        assert answer.get("result") == {"pong": True}, answer
        crashes = self.actor_crashes() - self.crash_mark
        assert crashes == 0, f"{crashes:.0f} actor crash(es) (mg_actor_crashes_total):\n{self.tail()}"
        self.wait_open_files(self.baseline_fds + fd_slack, fd_timeout)
        grown = self.rss() - self.baseline_rss
        assert grown <= rss_bound, f"RSS grew {grown >> 20} MiB over the baseline (bound {rss_bound >> 20} MiB)"

    def tail(self, lines: int = 40) -> str:
        return "".join(self.process.lines[-lines:]) if self.process is not None else ""

    def ws_connections(self) -> float:
        """`mg_ws_connections` from /metrics."""
        return self.metric("mg_ws_connections")

    def actor_crashes(self) -> float:
        """Actor crashes since the process started, all actors (`mg_actor_crashes_total`)."""
        return self.metric("mg_actor_crashes_total")

    def metric(self, name: str) -> float:
        """The sum of every sample of `name` in /metrics (0 when there is none yet)."""
        total = 0.0
        for line in self.metrics().splitlines():
            if line.startswith(name) and line[len(name):len(name) + 1] in (" ", "{"):
                total += float(line.rsplit(" ", 1)[1])
        return total

    def metrics(self) -> str:
        host, port, _ = split_url(self.admin.replace("http://", "ws://") + "/")
        with socket.create_connection((host, port), timeout=5) as sock:
            sock.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
        return data.partition(b"\r\n\r\n")[2].decode()

    # -- users -----------------------------------------------------------------------

    def user(self, role: str) -> dict[str, Any]:
        """The login result (plus `email`) of this node's `role` user ("user" or
        "admin"), made once per data dir; logged in again after a restart."""
        if role not in self.users:
            email = fresh_email(role)
            create_user_cli("--data-dir", str(self.data_dir), *self._database_args(), email=email,
                            admin=role == "admin", env=self.env)
            self.users[role] = {"email": email}
        entry = self.users[role]
        if entry.get("start") != self.starts:
            entry.update(self.login(entry["email"]), start=self.starts)
        return entry

    def token(self, role: str | None) -> str | None:
        """An access token for "user" or "admin", None for anonymous."""
        return None if role is None else self.user(role)["access_token"]

    def login(self, email: str, password: str = PASSWORD) -> dict[str, Any]:
        with RawClient.open(self.url) as client:
            return client.result("auth.login", {"email": email, "password": password})

    def register(self, email: str | None = None) -> dict[str, Any]:
        """A fresh account registered over the wire, logged in."""
        email = email or fresh_email("reg")
        with RawClient.open(self.url) as client:
            client.result("auth.register", {"email": email, "password": PASSWORD})
            return {**client.result("auth.login", {"email": email, "password": PASSWORD}), "email": email}

    def _database_args(self) -> tuple[str, ...]:
        for i, arg in enumerate(self.args):
            if arg == "--database-url":
                return ("--database-url", self.args[i + 1])
        return ()


def unique(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(4)}"
