"""The gateway process: storage, actors, the WebSocket and admin ports, and shutdown."""

from __future__ import annotations

import logging
import signal
from contextlib import AsyncExitStack
from typing import Any, Callable

import attrs
import trio

from protocol import jsonrpc
from protocol.api import system
from protocol.config import Config
from protocol.metrics import Metrics
from protocol.methods import MethodTable
from protocol.transport import TransportLimits, WebSocketGateway
from protocol.admin import AdminServer
from runtime import Registry, ShutdownCoordinator, Supervisor

log = logging.getLogger("gateway")

VERSION = "0.1.0"

Registrar = Callable[[MethodTable, "Services"], None]


@attrs.define
class Services:
    """What method handlers may use: the actors (by name) and process state."""

    config: Config
    registry: Registry
    metrics: Metrics
    version: str = VERSION
    supervisor: Supervisor | None = None
    gateway: WebSocketGateway | None = None
    shutting_down: bool = False
    extras: dict[str, Any] = attrs.Factory(dict)

    def actor(self, name: str):  # type: ignore[no-untyped-def]
        return self.registry.lookup(name)

    def health(self) -> dict[str, Any]:
        states = self.supervisor.states() if self.supervisor is not None else {}
        if self.shutting_down:
            status = "shutting_down"
        elif all(s == "running" for s in states.values()):
            status = "ok"
        else:
            status = "degraded"
        return {"status": status, "version": self.version, "actors": states}


class App:
    """One gateway process. `run()` serves until SIGTERM/SIGINT and returns the exit code."""

    def __init__(self, config: Config, *, registrars: list[Registrar] | None = None) -> None:
        self.config = config
        self.metrics = Metrics()
        self.registry = Registry()
        self.services = Services(config=config, registry=self.registry, metrics=self.metrics)
        self.table = MethodTable()
        self.engine = jsonrpc.Engine(self.table, on_call=self.metrics.observe_call)
        self.gateway = WebSocketGateway(
            self.engine,
            limits=TransportLimits(),
            on_connections_changed=self.metrics.connections.set,
        )
        self.services.gateway = self.gateway
        self.admin = AdminServer(ready=lambda: self.ready, metrics=self.metrics.render)
        self.ready = False
        self._stop_requested = trio.Event()
        self._registrars = [system.register] + list(registrars or [])
        self.metrics.add_callback_gauge(
            "mg_actor_mailbox_depth", "Messages waiting in each actor's mailbox", "actor",
            lambda: ((name, float(self.registry.lookup(name).depth())) for name in self.registry.names()),
        )

    def build_children(self, stack: AsyncExitStack) -> list:  # overridden by the full build
        return []

    async def run(self, *, task_status: trio.TaskStatus[Any] = trio.TASK_STATUS_IGNORED) -> int:
        cfg = self.config
        with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
            async with AsyncExitStack() as stack, trio.open_nursery() as nursery:
                children = await self.start_dependencies(stack)
                supervisor = Supervisor("root", children, registry=self.registry, on_event=self.metrics.on_runtime_event)
                self.services.supervisor = supervisor
                await nursery.start(supervisor.run)
                for register in self._registrars:
                    register(self.table, self.services)
                admin_port = await nursery.start(self.admin.serve, cfg.host, cfg.admin_port)
                ws_port = await nursery.start(self.gateway.serve, cfg.host, cfg.port)
                log.info("listening ws=%s:%s admin=%s:%s", cfg.host, ws_port, cfg.host, admin_port,
                         extra={"event": "listening", "ws_port": ws_port, "admin_port": admin_port})
                self.ready = True
                task_status.started((ws_port, admin_port))
                await self._wait_for_stop(signals)
                clean = await self.shutdown(supervisor, stack)
                nursery.cancel_scope.cancel()
        if clean:
            log.info("stopped gracefully", extra={"event": "shutdown.done"})
            return 0
        log.error("shutdown exceeded %.1f s; remaining work was cancelled", cfg.shutdown_timeout,
                  extra={"event": "shutdown.timeout"})
        return 1

    def request_shutdown(self) -> None:
        """Begin the same graceful shutdown as SIGTERM (used by tests and embedders)."""
        self._stop_requested.set()

    async def _wait_for_stop(self, signals: Any) -> None:
        async with trio.open_nursery() as nursery:

            async def on_signal() -> None:
                async for signum in signals:
                    log.info("received %s, shutting down", signal.Signals(signum).name,
                             extra={"event": "shutdown.begin"})
                    break
                nursery.cancel_scope.cancel()

            async def on_request() -> None:
                await self._stop_requested.wait()
                log.info("shutdown requested", extra={"event": "shutdown.begin"})
                nursery.cancel_scope.cancel()

            nursery.start_soon(on_signal)
            nursery.start_soon(on_request)

    async def start_dependencies(self, stack: AsyncExitStack) -> list:
        """Open storage and the rest; return the supervisor's children. Extended later."""
        return []

    async def shutdown(self, supervisor: Supervisor, stack: AsyncExitStack) -> bool:
        cfg = self.config
        total = cfg.shutdown_timeout
        coord = ShutdownCoordinator(total)
        coord.add_phase("stop-accepting", 1.0)
        coord.add_phase("drain-connections", max(1.0, total * 0.5))
        coord.add_phase("close-connections", 2.0)
        coord.add_phase("stop-actors", max(1.0, total * 0.3))
        coord.add_phase("close-pools", 2.0)

        async def stop_accepting() -> None:
            self.ready = False
            self.services.shutting_down = True
            self.gateway.begin_shutdown()

        async def drain() -> None:
            await self.gateway.drain(cfg.drain_quiet)

        coord.add_task("stop-accepting", "websocket", stop_accepting)
        coord.add_task("drain-connections", "websocket", drain)
        coord.add_task("close-connections", "websocket", self.gateway.close_all)
        coord.add_task("stop-actors", "supervisor", supervisor.stop)
        coord.add_task("close-pools", "storage", stack.aclose)
        return await coord.run()
