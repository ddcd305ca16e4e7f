"""The main process of `serve --workers N`: it serves no client itself, it supervises.

In order: it holds the WebSocket port (`protocol.listeners.reserve`: port 0 becomes a
real one), applies the migrations once, makes sure of the JWT secret, opens the admin
port, and starts N worker processes (`python -m gateway.workers.worker`, see `link`),
each a whole gateway node listening on the shared port. Once every worker has said
it is ready it logs `listening ws=... admin=... workers=N`.

Supervision, as an OTP supervisor with one_for_one and permanent children: a worker
that exits (whatever its exit code: nothing but the main process ends a worker) is
started again in its place after a backoff with jitter, and logged; more than
`--worker-max-restarts` restarts of one worker within `--worker-restart-period`
seconds and the main process gives up: it stops the other workers as on SIGTERM and
exits 1.

SIGTERM or SIGINT: `/readyz` turns 503, every worker gets SIGTERM (a worker still
starting gets it once it is ready, so it is never killed half-started) and drains as
the contract says; the main process waits `--shutdown-timeout` plus a few seconds for
them, kills what is left, and exits 0 only when every worker exited 0, logging
`stopped gracefully` last.

The admin port is the main process's: `/healthz` (it runs), `/readyz` (200 only while
it is not stopping, every worker is ready and each one's own `/readyz`, asked on its
private socket, says so), `/metrics` (its own registry and every worker's, asked at
once, merged with a `worker` label: see `merge`), `/console`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import platform
import signal
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import attrs
import h11
import orjson
import trio
from prometheus_client import CollectorRegistry, Counter, Gauge, Info, ProcessCollector, generate_latest

from actors.storage import connect_storage
from gateway.config import Config
from gateway.services import apply_migrations, asyncio_bridge
from gateway.version import VERSION
from gateway.workers.link import READY, Brief
from gateway.workers.merge import merge, parse
from gateway.workers.policy import RestartPolicy, Restarts
from protocol.admin import TEXT, AdminServer, Answer
from protocol.console import Console
from protocol.listeners import reserve

__all__ = ["WorkerSupervisor"]

log = logging.getLogger("gateway.workers")

ROOT = Path(__file__).resolve().parents[2]
STOP_GRACE = 5.0
"""Seconds past --shutdown-timeout a stopping worker is given before it is killed."""
ASK_TIMEOUT = 2.0
"""Seconds a worker's private socket has to answer /readyz or /metrics."""
MAX_ANSWER = 64 << 20
METRICS_TYPE = b"text/plain; version=0.0.4; charset=utf-8"


class Slot:
    """One worker's place; its process is started again in it after each exit."""

    def __init__(self, index: int, admin_socket: str, policy: RestartPolicy) -> None:
        self.index = index
        self.admin_socket = admin_socket
        self.restarts = Restarts(policy)
        self.process: trio.Process | None = None
        self.ready = False
        self.last_exit: int | None = None

    @property
    def name(self) -> str:
        return str(self.index)


class WorkerSupervisor:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.policy = RestartPolicy(max_restarts=config.worker_max_restarts, period=config.worker_restart_period)
        self.slots: list[Slot] = []
        self.ws_port: int | None = None
        self.stopping = False
        self.failure: str | None = None
        self._stop = trio.Event()
        self._changed = trio.Event()
        self.registry = CollectorRegistry(auto_describe=True)
        ProcessCollector(registry=self.registry)
        Info("mg_build", "The gateway's version and Python's", registry=self.registry).info(
            {"version": VERSION, "python": platform.python_version()})
        Gauge("mg_ready", "1 while the gateway accepts work (as /readyz answers 200)",
              registry=self.registry).set_function(lambda: float(self.ready))
        self._restarts = Counter("mg_worker_restarts", "Worker processes started again after they exited",
                                 ["worker"], registry=self.registry)
        self._up = Gauge("mg_worker_up", "1 when the worker answered the last /metrics scrape",
                         ["worker"], registry=self.registry)
        self.admin = AdminServer(ready=lambda: self.ready, metrics=lambda: b"",
                                 console=Console(lambda: self.ws_port))
        self.admin.add_route("/readyz", self._readyz)
        self.admin.add_route("/metrics", self._metrics)

    @property
    def ready(self) -> bool:
        return not self.stopping and bool(self.slots) and all(slot.ready for slot in self.slots)

    def request_stop(self) -> None:
        self.stopping = True
        self._stop.set()
        self._note_change()

    # -- running ----------------------------------------------------------------------

    async def run(self) -> int:
        cfg = self.config
        with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
            held = reserve(cfg.host, cfg.port)
            try:
                self.ws_port = held[0].getsockname()[1]
                await self._migrate()
                secret = cfg.effective_jwt_secret()
                with tempfile.TemporaryDirectory(prefix="mg-workers-") as private:
                    clean = await self._serve(signals, attrs.evolve(cfg, port=self.ws_port, jwt_secret=secret),
                                              private)
            finally:
                for sock in held:
                    sock.close()
        if self.failure is not None:
            log.error("gave up: %s", self.failure, extra={"event": "workers.gave_up"})
            return 1
        if not clean:
            log.error("not every worker stopped cleanly", extra={"event": "shutdown.unclean"})
            return 1
        log.info("stopped gracefully", extra={"event": "shutdown.done"})
        return 0

    async def _migrate(self) -> None:
        """Once, here, before any worker starts (theirs then find nothing to do)."""
        cfg = self.config
        async with asyncio_bridge(cfg):
            async with connect_storage(cfg.effective_database_url, pool_size=1, timeout=60) as storage:
                await apply_migrations(storage)

    async def _serve(self, signals: AsyncIterator[int], worker_config: Config, private: str) -> bool:
        cfg = self.config
        async with trio.open_nursery() as nursery:
            admin_port = await nursery.start(self.admin.serve, cfg.admin_host, cfg.admin_port)
            worker_config = attrs.evolve(worker_config, admin_port=admin_port)
            self.slots = [Slot(i, os.path.join(private, f"worker-{i}.sock"), self.policy)
                          for i in range(1, cfg.workers + 1)]
            for slot in self.slots:
                self._restarts.labels(slot.name)  # from 0, so that increase() sees the first
                nursery.start_soon(self._keep, slot, worker_config)
            nursery.start_soon(self._on_signal, signals)
            while not (self.stopping or self.ready):
                await self._wait_change()
            if not self.stopping:
                log.info("listening ws=%s:%s admin=%s:%s", cfg.host, self.ws_port, cfg.admin_host,
                         admin_port, extra={"event": "listening", "ws_port": self.ws_port,
                                                         "admin_port": admin_port, "workers": cfg.workers})
            await self._stop.wait()
            clean = await self._stop_workers()
            nursery.cancel_scope.cancel()
        return clean

    async def _on_signal(self, signals: AsyncIterator[int]) -> None:
        async for signum in signals:
            if not self.stopping:
                log.info("received %s, stopping %d workers", signal.Signals(signum).name, len(self.slots),
                         extra={"event": "shutdown.begin"})
                self.request_stop()

    def _note_change(self) -> None:
        self._changed.set()
        self._changed = trio.Event()

    async def _wait_change(self) -> None:
        await self._changed.wait()

    # -- one worker's place -------------------------------------------------------------

    async def _keep(self, slot: Slot, config: Config) -> None:
        """Start the slot's worker, and again after each exit, until stopping or past
        the restart intensity."""
        brief = Brief(slot.index, slot.admin_socket, config).encode()
        while not self.stopping:
            pid, code = await self._run_once(slot, brief)
            if self.stopping:
                return
            delay = slot.restarts.crashed(trio.current_time())
            how = _describe_exit(code)
            if delay is None:
                self.failure = (f"worker {slot.index} {how}, past {self.policy.max_restarts} restart(s) "
                                f"within {self.policy.period:g} s")
                log.error("worker %d %s; more than %d restart(s) within %g s: giving up", slot.index, how,
                          self.policy.max_restarts, self.policy.period,
                          extra={"event": "worker.give_up", "worker": slot.index, "pid": pid, "exit_code": code})
                self.request_stop()
                return
            self._restarts.labels(slot.name).inc()
            log.warning("worker %d %s; restarting in %.1f s (restart %d of at most %d within %g s)", slot.index,
                        how, delay, slot.restarts.recent(), self.policy.max_restarts, self.policy.period,
                        extra={"event": "worker.exit", "worker": slot.index, "pid": pid, "exit_code": code})
            with trio.move_on_after(delay):
                await self._stop.wait()

    async def _run_once(self, slot: Slot, brief: bytes) -> tuple[int, int]:
        """One life of the slot's worker: (pid, exit code)."""
        with contextlib.suppress(FileNotFoundError):
            os.unlink(slot.admin_socket)  # left behind by a worker that was killed
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, (str(ROOT), os.environ.get("PYTHONPATH"))))}
        process = await trio.lowlevel.open_process(
            [sys.executable, "-m", "gateway.workers.worker"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            env=env, start_new_session=True)  # a terminal's Ctrl-C reaches the main process only
        assert process.stdin is not None and process.stdout is not None
        slot.process = process
        self._note_change()
        log.info("worker started", extra={"event": "worker.start", "worker": slot.index, "pid": process.pid})
        try:
            with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
                await process.stdin.send_all(brief)
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._read_reports, slot, process.stdout)
                code = await process.wait()
                nursery.cancel_scope.cancel()
        finally:
            with trio.CancelScope(shield=True):
                await process.stdin.aclose()
                await process.stdout.aclose()
            slot.ready = False
            slot.process = None
            slot.last_exit = process.returncode
            self._note_change()
        return process.pid, code

    async def _read_reports(self, slot: Slot, reports: trio.abc.ReceiveStream) -> None:
        buffer = b""
        async for chunk in reports:
            buffer += chunk
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                self._report(slot, line)
            if len(buffer) > 65536:
                buffer = b""  # no report is that long: not one of ours

    def _report(self, slot: Slot, line: bytes) -> None:
        try:
            event = orjson.loads(line)
        except orjson.JSONDecodeError:
            log.warning("worker %d wrote %r to its report pipe", slot.index, line[:200],
                        extra={"event": "worker.stray_output"})
            return
        if isinstance(event, dict) and event.get("event") == READY:
            slot.ready = True
            log.info("worker ready", extra={"event": "worker.ready", "worker": slot.index,
                                            "pid": event.get("pid")})
            self._note_change()

    # -- stopping -----------------------------------------------------------------------

    async def _stop_workers(self) -> bool:
        """SIGTERM to every worker (once ready), wait, kill what is left: True when every
        worker that was running exited 0 in time."""
        clean = [True]

        async def stop(slot: Slot) -> None:
            process = slot.process
            if process is None:
                return  # between a crash and its restart: nothing runs
            while slot.process is process and not slot.ready:
                await self._wait_change()
            if slot.process is process:
                with contextlib.suppress(ProcessLookupError):
                    process.send_signal(signal.SIGTERM)
            while slot.process is process:
                await self._wait_change()
            code = process.returncode
            if code != 0:
                clean[0] = False
                log.error("worker %d %s while stopping", slot.index,
                          "ended" if code is None else _describe_exit(code),
                          extra={"event": "worker.unclean_stop", "worker": slot.index, "pid": process.pid})

        with trio.move_on_after(self.config.shutdown_timeout + STOP_GRACE) as waited:
            async with trio.open_nursery() as nursery:
                for slot in self.slots:
                    nursery.start_soon(stop, slot)
        if waited.cancelled_caught:
            clean[0] = False
            for slot in self.slots:
                if slot.process is not None:
                    log.error("worker %d did not stop within %.0f s; killing it", slot.index,
                              self.config.shutdown_timeout + STOP_GRACE,
                              extra={"event": "worker.kill", "worker": slot.index, "pid": slot.process.pid})
                    with contextlib.suppress(ProcessLookupError):
                        slot.process.kill()
            with trio.move_on_after(5):
                while any(slot.process is not None for slot in self.slots):
                    await self._wait_change()
        return clean[0]

    # -- the admin port -----------------------------------------------------------------

    async def _ask_all(self, target: str) -> dict[str, tuple[int, bytes] | None]:
        answers: dict[str, tuple[int, bytes] | None] = {}

        async def ask(slot: Slot) -> None:
            answers[slot.name] = await _get_unix(slot.admin_socket, target) if slot.ready else None

        async with trio.open_nursery() as nursery:
            for slot in self.slots:
                nursery.start_soon(ask, slot)
        return answers

    async def _readyz(self, request: h11.Request) -> Answer:
        if not self.ready:
            waiting = [slot.name for slot in self.slots if not slot.ready]
            reason = "stopping" if self.stopping else "waiting for worker(s) " + ", ".join(waiting)
            return 503, TEXT, f"not ready: {reason}\n".encode()
        answers = await self._ask_all("/readyz")
        unready = [name for name, answer in answers.items() if answer is None or answer[0] != 200]
        if unready:
            return 503, TEXT, f"not ready: worker(s) {', '.join(unready)}\n".encode()
        return 200, TEXT, b"ready\n"

    async def _metrics(self, request: h11.Request) -> Answer:
        answers = await self._ask_all("/metrics")
        sources = {}
        for slot in self.slots:
            answer = answers.get(slot.name)
            families = None
            if answer is not None and answer[0] == 200:
                with contextlib.suppress(ValueError, UnicodeDecodeError):
                    families = parse(answer[1].decode())
            self._up.labels(slot.name).set(0 if families is None else 1)
            if families is not None:
                sources[slot.name] = families
        own = parse(generate_latest(self.registry).decode())
        return 200, METRICS_TYPE, merge({"main": own, **sources})


async def _get_unix(path: str, target: str) -> tuple[int, bytes] | None:
    """GET `target` from an admin server on the Unix socket `path`: (status, body), or
    None when it does not answer in time or not in full."""
    chunks: list[bytes] = []
    try:
        with trio.fail_after(ASK_TIMEOUT):
            stream = await trio.open_unix_socket(path)
            async with stream:
                await stream.send_all(f"GET {target} HTTP/1.1\r\nHost: worker\r\n\r\n".encode())
                size = 0
                while chunk := await stream.receive_some(65536):
                    chunks.append(chunk)
                    size += len(chunk)
                    if size > MAX_ANSWER:
                        return None
    except (OSError, trio.TooSlowError, trio.BrokenResourceError):
        return None
    client = h11.Connection(h11.CLIENT)
    client.send(h11.Request(method="GET", target=target, headers=[("Host", "worker")]))
    client.send(h11.EndOfMessage())
    client.receive_data(b"".join(chunks))
    client.receive_data(b"")
    status, body = None, []
    try:
        while True:
            event = client.next_event()
            if isinstance(event, h11.Response):
                status = event.status_code
            elif isinstance(event, h11.Data):
                body.append(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage):
                break
            elif event is h11.NEED_DATA or isinstance(event, h11.ConnectionClosed):
                return None  # cut short
    except h11.RemoteProtocolError:
        return None
    return (status, b"".join(body)) if status is not None else None


def _describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}"
