"""Shared load generator for the benchmarks: start servers as subprocesses, drive them
with N closed-loop WebSocket clients, report throughput and latency percentiles."""

from __future__ import annotations

import itertools
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import orjson
import trio
from trio_websocket import open_websocket_url

ROOT = Path(__file__).resolve().parent.parent
LISTENING = re.compile(r"listening ws=([\d.]+):(\d+)(?: admin=([\d.]+):(\d+))?")


class Server:
    def __init__(self, argv: list[str], env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(argv, cwd=ROOT, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                     env={**os.environ, **(env or {})}, text=True)
        deadline = time.monotonic() + 30
        self.lines: list[str] = []
        while time.monotonic() < deadline:
            line = self.proc.stderr.readline()  # type: ignore[union-attr]
            if not line:
                raise RuntimeError("server exited: " + "".join(self.lines))
            self.lines.append(line)
            m = LISTENING.search(line)
            if m:
                self.url = f"ws://{m.group(1)}:{m.group(2)}/v1"
                self.admin = f"http://{m.group(3)}:{m.group(4)}" if m.group(3) else None
                return
        raise RuntimeError("server did not start")

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def echo_server() -> Server:
    return Server([sys.executable, "bench/echo_server.py", "0"])


def gateway(extra: list[str] | None = None, env: dict[str, str] | None = None) -> Server:
    data = tempfile.mkdtemp(prefix="mg-bench-")
    # Load generators send far faster on one connection than an app may (the default
    # rate limit is 100/s): a rate no client reaches keeps the limiter's cost measured.
    return Server([sys.executable, "main.py", "serve", "--port", "0", "--admin-port", "0",
                   "--data-dir", data, *(extra or [])],
                  env={"MG_LOG_LEVEL": "info", "MG_RATE_LIMIT": "1000000000", **(env or {})})


async def closed_loop(url: str, connections: int, seconds: float, make_frame: Callable[[int], bytes],
                      headers: list | None = None, expect_reply: bool = True) -> dict:
    """Each connection sends a frame, waits for the answer, repeats, for `seconds`."""
    latencies: list[float] = []
    count = 0

    async def one(i: int, ready: trio.Event, go: trio.Event) -> None:
        nonlocal count
        async with open_websocket_url(url, extra_headers=headers) as ws:
            ready_count[0] += 1
            if ready_count[0] == connections:
                ready.set()
            await go.wait()
            n = 0
            end = trio.current_time() + seconds
            while trio.current_time() < end:
                frame = make_frame(n)
                t0 = time.perf_counter()
                await ws.send_message(frame.decode())
                if expect_reply:
                    await ws.get_message()
                    latencies.append(time.perf_counter() - t0)
                n += 1
            count += n

    ready_count = [0]
    ready, go = trio.Event(), trio.Event()
    async with trio.open_nursery() as nursery:
        for i in range(connections):
            nursery.start_soon(one, i, ready, go)
        await ready.wait()
        started = time.perf_counter()
        go.set()
    elapsed = time.perf_counter() - started
    latencies.sort()
    pct = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000 if latencies else float("nan")  # noqa: E731
    return {"rps": count / elapsed, "p50_ms": pct(0.5), "p99_ms": pct(0.99), "count": count}


async def closed_loop_lean(url: str, connections: int, seconds: float, make_frame: Callable[[int], bytes],
                           headers: list | None = None, expect_reply: bool = True) -> dict:
    """`closed_loop` with a client that costs little: raw sockets, frames built by hand
    (mask key zero, so the payload goes as it is), answers found by their headers. It
    leaves more of the machine to the server, so a server is measured nearer its own
    limit than behind the client's."""
    host, port = re.match(r"ws://([^:/]+):(\d+)", url).groups()  # type: ignore[union-attr]
    latencies: list[float] = []
    count = 0

    def masked(payload: bytes) -> bytes:
        n = len(payload)
        head = bytes((0x81, 0x80 | n)) if n < 126 else bytes((0x81, 0xFE)) + n.to_bytes(2, "big")
        return head + b"\0\0\0\0" + payload

    async def one(ready: trio.Event, go: trio.Event) -> None:
        nonlocal count
        stream = await trio.open_tcp_stream(host, int(port))
        async with stream:
            extra = "".join(f"{k}: {v}\r\n" for k, v in headers or [])
            await stream.send_all((f"GET /v1 HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
                                   "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                                   f"Sec-WebSocket-Version: 13\r\n{extra}\r\n").encode())
            buf = b""
            while b"\r\n\r\n" not in buf:
                buf += await stream.receive_some(65536)
            buf = buf.split(b"\r\n\r\n", 1)[1]
            ready_count[0] += 1
            if ready_count[0] == connections:
                ready.set()
            await go.wait()
            n = 0
            end = trio.current_time() + seconds
            while trio.current_time() < end:
                t0 = time.perf_counter()
                await stream.send_all(masked(make_frame(n)))
                if expect_reply:
                    while True:  # until one whole text frame has come
                        if len(buf) >= 2:
                            size, at = buf[1] & 0x7F, 2
                            if size == 126 and len(buf) >= 4:
                                size, at = int.from_bytes(buf[2:4], "big"), 4
                            elif size == 127 and len(buf) >= 10:
                                size, at = int.from_bytes(buf[2:10], "big"), 10
                            if size < 126 or at > 2:
                                if len(buf) >= at + size:
                                    text = buf[0] & 0x0F == 1
                                    buf = buf[at + size:]
                                    if text:
                                        break
                                    continue
                        buf += await stream.receive_some(65536)
                    latencies.append(time.perf_counter() - t0)
                n += 1
            count += n

    ready_count = [0]
    ready, go = trio.Event(), trio.Event()
    async with trio.open_nursery() as nursery:
        for _ in range(connections):
            nursery.start_soon(one, ready, go)
        await ready.wait()
        started = time.perf_counter()
        go.set()
    elapsed = time.perf_counter() - started
    latencies.sort()
    pct = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000 if latencies else float("nan")  # noqa: E731
    return {"rps": count / elapsed, "p50_ms": pct(0.5), "p99_ms": pct(0.99), "count": count}


def prebuilt(make_frame: Callable[[int], bytes], count: int) -> Callable[[int], bytes]:
    """`make_frame` with its first `count` frames built now, outside the timed loop, so
    that a costlier frame (a fresh user id each call) does not slow the client down."""
    frames = iter([make_frame(i) for i in range(count)])
    extra = itertools.count(count)
    return lambda n: next(frames, None) or make_frame(next(extra))


def ping_frame(n: int) -> bytes:
    return orjson.dumps({"jsonrpc": "2.0", "id": n, "method": "system.ping"})


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) process `pid` has used so far, from /proc/<pid>/stat."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # After the command's closing parenthesis, utime and stime are fields 12 and 13.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def median(values: list[float]) -> float:
    return statistics.median(values)
