"""Helpers for end-to-end tests: real gateway processes and real WebSocket clients."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import orjson
import trio
from trio_websocket import WebSocketConnection

from mgclient import Connection, connect, http_get  # noqa: F401  (tests import them from here)

Client = Connection
"""What `connect` yields: calls, notifications, raw frames (mgclient.Connection)."""

ROOT = Path(__file__).resolve().parent.parent
LISTENING = re.compile(r"listening ws=([\d.]+):(\d+) admin=([\d.]+):(\d+)")


class GatewayProcess:
    """`python main.py serve` on free ports; its log lines are collected in `lines`."""

    def __init__(self, data_dir: Path, *extra: str, env: dict[str, str] | None = None) -> None:
        argv = [sys.executable, str(ROOT / "main.py"), "serve", "--port", "0", "--admin-port", "0",
                "--data-dir", str(data_dir), *extra]
        self.proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     env={**os.environ, **(env or {})}, text=True)
        self.lines: list[str] = []
        self._listening = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        if not self._listening.wait(60):
            self.kill()
            raise RuntimeError("gateway did not start:\n" + "".join(self.lines))
        m = next(LISTENING.search(line) for line in self.lines if LISTENING.search(line))
        self.url = f"ws://{m.group(1)}:{m.group(2)}/v1"
        self.admin = f"http://{m.group(3)}:{m.group(4)}"

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)
            if LISTENING.search(line):
                self._listening.set()
        self._listening.set()

    @property
    def log(self) -> str:
        return "".join(self.lines)

    def terminate(self, timeout: float = 60) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.wait(timeout)

    def wait(self, timeout: float = 60) -> int:
        code = self.proc.wait(timeout)
        self._reader.join(5)
        return code

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self._reader.join(5)


async def raw_call(ws: WebSocketConnection | Connection, frame: str | bytes) -> object:
    """Send one frame as it is (on a bare trio-websocket connection or an mgclient one)
    and read the next message."""
    if isinstance(ws, Connection):
        # mgclient hands a batch's answers over one by one: gather one per request.
        await ws.send_raw(frame)
        try:
            sent = orjson.loads(frame)
        except orjson.JSONDecodeError:
            sent = None
        if not isinstance(sent, list):
            return await ws.next_message()
        return [await ws.next_message() for m in sent if isinstance(m, dict) and "id" in m]
    await ws.send_message(frame if isinstance(frame, str) else frame.decode())
    return orjson.loads(await ws.get_message())


def wait_until(predicate, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    """For subprocess logs only (threads, not trio): poll a condition with a deadline."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.01)


class FlakyProxy:
    """A TCP proxy to a real server that a test can cut and restore, to stage an outage
    of a shared service (PostgreSQL, Redis) without stopping it for everyone. It can
    also `hold` what clients send (a barrier: requests pile up at the proxy, `held`
    counts the connections waiting) and `release` it all at once."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.up = True
        self.port: int | None = None
        self._links: set[trio.CancelScope] = set()
        self._released: trio.Event | None = None
        self.held = 0

    async def run(self, *, task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED) -> None:
        listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
        self.port = listeners[0].socket.getsockname()[1]
        async with trio.open_nursery() as nursery:
            await nursery.start(trio.serve_listeners, self._handle, listeners)
            task_status.started(self.port)

    def cut(self) -> None:
        """Drop every open connection and refuse new ones until `restore`."""
        self.up = False
        for scope in list(self._links):
            scope.cancel()

    def restore(self) -> None:
        self.up = True

    def hold(self) -> None:
        """From now on, keep what clients send at the proxy until `release`."""
        if self._released is None:
            self._released = trio.Event()

    def release(self) -> None:
        if self._released is not None:
            self._released.set()
            self._released = None

    async def _handle(self, client: trio.SocketStream) -> None:
        async with client:
            if not self.up:
                return
            with trio.CancelScope() as scope:
                self._links.add(scope)
                try:
                    server = await trio.open_tcp_stream(*self.target)
                    async with server, trio.open_nursery() as nursery:
                        nursery.start_soon(self._pump, client, server, nursery.cancel_scope, True)
                        nursery.start_soon(self._pump, server, client, nursery.cancel_scope, False)
                finally:
                    self._links.discard(scope)

    async def _pump(self, src: trio.SocketStream, dst: trio.SocketStream, scope: trio.CancelScope,
                    upstream: bool) -> None:
        try:
            while data := await src.receive_some(65536):
                if upstream and (released := self._released) is not None:
                    self.held += 1
                    try:
                        await released.wait()
                    finally:
                        self.held -= 1
                await dst.send_all(data)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        scope.cancel()


def stop(*nodes: GatewayProcess) -> None:
    """SIGTERM each gateway (SIGKILL one that does not stop in time)."""
    for node in nodes:
        try:
            node.terminate(30)
        except Exception:
            node.kill()


def start_nodes(tmp_path: Path, *args: str, env: dict[str, str], count: int = 2) -> list[GatewayProcess]:
    """`count` gateways with the same arguments (each its own data dir); all or none."""
    nodes: list[GatewayProcess] = []
    try:
        for n in range(count):
            nodes.append(GatewayProcess(tmp_path / f"node{n}", *args, env=env))
    except BaseException:
        stop(*nodes)
        raise
    return nodes


# -- the operators' files (ops/): alert rules and the Grafana dashboard ------------------

OPS = ROOT / "ops"
ALERT_RULES = OPS / "prometheus" / "alerts.yml"
ALERT_TESTS = OPS / "prometheus" / "alerts_test.yml"
DASHBOARD = OPS / "grafana" / "media-gateway.json"

# Grafana's variables, as plain PromQL (for promtool and for reading names).
GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$instance": ".*"}
_PROMQL_WORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless",
                 "offset", "bool", "inf", "nan"}


def alert_exprs() -> dict[str, str]:
    """Alert name -> PromQL expression, from ops/prometheus/alerts.yml."""
    import yaml

    doc = yaml.safe_load(ALERT_RULES.read_text())
    return {rule["alert"]: rule["expr"] for group in doc["groups"] for rule in group["rules"]}


def dashboard_exprs() -> dict[str, str]:
    """"panel title / refId" -> PromQL expression (Grafana's variables replaced), from the dashboard."""
    doc = orjson.loads(DASHBOARD.read_bytes())
    found = {}
    for panel in doc["panels"]:
        for target in panel.get("targets", []):
            expr = target["expr"]
            for variable, value in GRAFANA_VARIABLES.items():
                expr = expr.replace(variable, value)
            found[f"{panel['title']} / {target['refId']}"] = expr
    instances = next(v for v in doc["templating"]["list"] if v["name"] == "instance")
    found["variable instance"] = re.fullmatch(r"label_values\((\w+), *\w+\)", instances["definition"]).group(1)
    return found


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression reads (not functions, keywords or labels)."""
    s = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # strings
    s = re.sub(r"\{[^}]*\}", " ", s)  # label matchers
    s = re.sub(r"\[[^\]]*\]", " ", s)  # ranges
    s = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", s)
    names = set()
    for m in re.finditer(r"(?<![\w.])[a-zA-Z_:][a-zA-Z0-9_:]*", s):
        if s[m.end():].lstrip().startswith("(") or m.group().lower() in _PROMQL_WORDS:
            continue  # a function, or a keyword
        names.add(m.group())
    return names
