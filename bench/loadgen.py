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
import threading
import time
from pathlib import Path
from typing import Awaitable, Callable

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
                # Keep reading, so a server that logs (several workers do) never blocks on a full pipe.
                threading.Thread(target=self._drain, daemon=True).start()
                return
        raise RuntimeError("server did not start")

    def _drain(self) -> None:
        for line in self.proc.stderr:  # type: ignore[union-attr]
            self.lines.append(line)

    def pids(self) -> list[int]:
        """The server's process and all its descendants (the workers of a main process)."""
        found, todo = [], [self.proc.pid]
        while todo:
            pid = todo.pop()
            found.append(pid)
            try:
                tasks = os.listdir(f"/proc/{pid}/task")
            except OSError:
                continue
            for task in tasks:  # a child belongs to the thread that started it (trio starts them in threads)
                try:
                    with open(f"/proc/{pid}/task/{task}/children") as f:
                        todo.extend(int(c) for c in f.read().split())
                except OSError:
                    pass
        return found

    def cpu_seconds(self) -> float:
        """CPU time (user + system) the server's processes have used so far. A process
        that ended since takes its time with it: read this around a round, not across
        a restart."""
        total = 0.0
        for pid in self.pids():
            try:
                total += cpu_seconds(pid)
            except OSError:
                pass
        return total

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


Ready = Callable[[], Awaitable[None]]


async def together(connections: int, one: Callable[[int, Ready], Awaitable[None]]) -> float:
    """Run `one(i, ready)` for every connection `i`; each awaits `ready()` once it is
    set up, which returns when all are. The seconds from then until the last ended."""
    waiting = [connections]
    all_ready = trio.Event()

    async def ready() -> None:
        waiting[0] -= 1
        if waiting[0] == 0:
            all_ready.set()
        await all_ready.wait()

    async with trio.open_nursery() as nursery:
        for i in range(connections):
            nursery.start_soon(one, i, ready)
        await all_ready.wait()
        started = time.perf_counter()
    return time.perf_counter() - started


def spread(values: list[float], fmt: str) -> str:
    """`median (min-max)` of `values`, each formatted with `fmt`."""
    return f"{format(statistics.median(values), fmt)} ({format(min(values), fmt)}-{format(max(values), fmt)})"


async def closed_loop(url: str, connections: int, seconds: float, make_frame: Callable[[int], bytes],
                      headers: list | None = None, expect_reply: bool = True) -> dict:
    """Each connection sends a frame, waits for the answer, repeats, for `seconds`."""
    latencies: list[float] = []
    count = 0

    async def one(i: int, ready: Ready) -> None:
        nonlocal count
        async with open_websocket_url(url, extra_headers=headers) as ws:
            await ready()
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

    elapsed = await together(connections, one)
    latencies.sort()
    pct = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000 if latencies else float("nan")  # noqa: E731
    return {"rps": count / elapsed, "p50_ms": pct(0.5), "p99_ms": pct(0.99), "count": count}


class LeanSocket:
    """A WebSocket client that costs little: raw sockets, frames built by hand (mask key
    zero, so the payload goes as it is), answers found by their headers. It leaves more
    of the machine to the server, so a server is measured nearer its own limit."""

    def __init__(self, stream: trio.SocketStream, leftover: bytes) -> None:
        self.stream = stream
        self.buf = leftover

    @classmethod
    async def open(cls, url: str, headers: list | None = None) -> "LeanSocket":
        host, port = re.match(r"ws://([^:/]+):(\d+)", url).groups()  # type: ignore[union-attr]
        stream = await trio.open_tcp_stream(host, int(port))
        extra = "".join(f"{k}: {v}\r\n" for k, v in headers or [])
        await stream.send_all((f"GET /v1 HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
                               "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                               f"Sec-WebSocket-Version: 13\r\n{extra}\r\n").encode())
        buf = b""
        while b"\r\n\r\n" not in buf:
            chunk = await stream.receive_some(65536)
            if not chunk:
                raise ConnectionError("closed during the handshake")
            buf += chunk
        head, buf = buf.split(b"\r\n\r\n", 1)
        if not head.startswith(b"HTTP/1.1 101"):
            raise ConnectionError(head.split(b"\r\n", 1)[0].decode())
        return cls(stream, buf)

    @staticmethod
    def frame(payload: bytes) -> bytes:
        """A masked text frame (mask key zero) carrying `payload`."""
        n = len(payload)
        if n < 126:
            head = bytes((0x81, 0x80 | n))
        elif n < 65536:
            head = bytes((0x81, 0xFE)) + n.to_bytes(2, "big")
        else:
            head = bytes((0x81, 0xFF)) + n.to_bytes(8, "big")
        return head + b"\0\0\0\0" + payload

    async def send(self, payload: bytes) -> None:
        await self.stream.send_all(self.frame(payload))

    def _next(self) -> tuple[int, bytes] | None:
        """The next whole frame in the buffer as (opcode, payload), taken out of it."""
        buf = self.buf
        if len(buf) < 2:
            return None
        size, at = buf[1] & 0x7F, 2
        if size == 126:
            if len(buf) < 4:
                return None
            size, at = int.from_bytes(buf[2:4], "big"), 4
        elif size == 127:
            if len(buf) < 10:
                return None
            size, at = int.from_bytes(buf[2:10], "big"), 10
        if len(buf) < at + size:
            return None
        self.buf = buf[at + size:]
        return buf[0] & 0x0F, buf[at:at + size]

    async def receive_text(self) -> bytes:
        """The payload of the next text frame (other frames are skipped)."""
        while True:
            got = self._next()
            if got is not None:
                if got[0] == 1:
                    return got[1]
                continue
            chunk = await self.stream.receive_some(65536)
            if not chunk:
                raise ConnectionError("closed")
            self.buf += chunk

    async def count_texts(self, size: int = 262144) -> int:
        """Wait for more bytes; the number of whole text frames they completed (0 at the
        end of the stream, as -1)."""
        chunk = await self.stream.receive_some(size)
        if not chunk:
            return -1
        self.buf += chunk
        buf, i, n, end = self.buf, 0, 0, len(self.buf)
        while end - i >= 2:
            size, at = buf[i + 1] & 0x7F, 2
            if size == 126:
                if end - i < 4:
                    break
                size, at = int.from_bytes(buf[i + 2:i + 4], "big"), 4
            elif size == 127:
                if end - i < 10:
                    break
                size, at = int.from_bytes(buf[i + 2:i + 10], "big"), 10
            if end - i < at + size:
                break
            if buf[i] & 0x0F == 1:
                n += 1
            i += at + size
        self.buf = buf[i:]
        return n

    async def aclose(self) -> None:
        await self.stream.aclose()


async def closed_loop_lean(url: str, connections: int, seconds: float, make_frame: Callable[[int], bytes],
                           headers: list | Callable[[int], list] | None = None, expect_reply: bool = True,
                           prepare: Callable[[int, LeanSocket], Awaitable[Callable[[int], bytes]]] | None = None,
                           is_request: Callable[[bytes], bool] | None = None) -> dict:
    """`closed_loop` on `LeanSocket`s. `headers` may be a function of the connection's
    number (each connection its own user). `prepare(i, socket)`, when given, readies
    connection `i` (say, starts its playback session) and returns its frame maker in
    place of `make_frame`; `is_request(frame)` tells requests, whose answer is awaited,
    from notifications (default: every frame is a request when `expect_reply`)."""
    latencies: list[float] = []
    count = 0

    async def one(i: int, ready: Ready) -> None:
        nonlocal count
        sock = await LeanSocket.open(url, headers(i) if callable(headers) else headers)
        try:
            make = make_frame if prepare is None else await prepare(i, sock)
            await ready()
            n = 0
            end = trio.current_time() + seconds
            while trio.current_time() < end:
                t0 = time.perf_counter()
                frame = make(n)
                await sock.send(frame)
                if expect_reply and (is_request is None or is_request(frame)):
                    await sock.receive_text()
                    latencies.append(time.perf_counter() - t0)
                n += 1
            count += n
        finally:
            await sock.aclose()

    elapsed = await together(connections, one)
    latencies.sort()
    pct = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000 if latencies else float("nan")  # noqa: E731
    return {"rps": count / elapsed, "p50_ms": pct(0.5), "p99_ms": pct(0.99), "count": count}


async def pipelined(url: str, connections: int, seconds: float, payload: bytes, window: int = 16,
                    headers: list | None = None) -> dict:
    """A load generator that leaves the CPU to the server: each connection keeps
    `window` copies of `payload` (a request) in flight, and for every batch of answers
    that arrives sends as many requests again in one write; answers are counted by
    their frame headers, never parsed. After `seconds` it stops sending and counts the
    answers still due. `count` is every answer; `rps` that over the time to the last."""
    frame = LeanSocket.frame(payload)
    count = 0

    async def one(i: int, ready: Ready) -> None:
        nonlocal count
        sock = await LeanSocket.open(url, headers)
        try:
            await ready()
            end = trio.current_time() + seconds
            await sock.stream.send_all(frame * window)
            due = window
            while due:
                n = await sock.count_texts()
                if n < 0:
                    raise ConnectionError("the server closed a connection under load")
                count += n
                due -= n
                if n and trio.current_time() < end:
                    await sock.stream.send_all(frame * n)
                    due += n
        finally:
            await sock.aclose()

    elapsed = await together(connections, one)
    return {"rps": count / elapsed, "count": count, "elapsed": elapsed}


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


def rss_bytes(pid: int | None = None) -> int:
    """Resident memory (VmRSS) of process `pid` (this process by default), in bytes."""
    with open(f"/proc/{pid or os.getpid()}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


def median(values: list[float]) -> float:
    return statistics.median(values)
