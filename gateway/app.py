"""The gateway process: storage, the domains' actors under one supervisor, the
WebSocket and admin ports, and phased shutdown.

The domains and the methods served are gateway/domains.py; this module runs them.
"""

from __future__ import annotations

import logging
import secrets
import signal
from collections.abc import AsyncIterator
from functools import partial

import attrs
import trio

from actors.env import DomainEnv
from gateway import reference
from gateway.config import Config
from gateway.domains import Domains, serve_methods, start_domains
from gateway.metrics import Metrics
from gateway.version import VERSION
from gateway.services import Services, asyncio_bridge, open_services
from gateway.workers.link import WorkerLink
from protocol import jsonrpc
from protocol.admin import AdminServer
from protocol.audit import Audit, audit_key
from protocol.console import Console
from protocol.api.tokens import Revocations
from protocol.methods import MethodTable
from protocol.paging import CursorCodec
from protocol.transport import AllowedOrigins, TransportLimits, WebSocketGateway
from runtime import Registry, ShutdownCoordinator, Supervisor

log = logging.getLogger("gateway")



class App:
    """One gateway process. `run()` serves until SIGTERM/SIGINT and returns the exit code.

    Once `run()` has reported started: `services` (storage, kv), `domains` (each
    domain's facade) and `supervisor` are set."""

    def __init__(self, config: Config, worker: WorkerLink | None = None) -> None:
        self.config = config
        self.worker = worker
        """Set in a worker process of `serve --workers N`: the port is shared, the admin
        pages go to a private socket, the main process hears when this one is ready."""
        self.version = VERSION
        self.node_id = secrets.token_hex(6)
        self.metrics = Metrics(VERSION)
        self.audit = Audit()
        self.registry = Registry()
        self.table = MethodTable()
        self.engine = jsonrpc.Engine(self.table, on_call=self.metrics.observe_call)
        self.gateway = WebSocketGateway(
            self.engine,
            limits=TransportLimits(
                slow_client_timeout=config.slow_client_timeout, handshake_timeout=config.handshake_timeout,
                max_handshake_bytes=config.max_handshake_bytes, max_message_size=config.max_message_bytes,
                max_partial_bytes=config.max_partial_bytes, message_timeout=config.message_timeout,
                rate=config.rate_limit, burst=config.rate_burst),
            origins=AllowedOrigins.parse(config.allowed_origins),
            on_connections_changed=self.metrics.connections.set,
            audit=self.audit,
        )
        self.metrics.add_callback_counter(
            "mg_ws_events", "WebSocket events: handshake_refused by status, closed by code, "
            "rate_limited by request or notification", ("kind", "label"), self.gateway.counts.items)
        self.revocations = Revocations(lambda: self.gateway.connections)
        self.admin = AdminServer(ready=lambda: self.ready, metrics=self.metrics.render,
                                 console=Console(lambda: self.ws_port or None))
        self.services: Services | None = None
        self.domains: Domains | None = None
        self.supervisor: Supervisor | None = None
        self.ready = False
        self.ws_port: int = config.port
        self.shutting_down = False
        self._stop_requested = trio.Event()
        self._release_services = trio.Event()
        self._services_released = trio.Event()
        self.metrics.add_gauge_function("mg_ready", "1 while the gateway accepts work (as /readyz answers 200)",
                                        lambda: float(self.ready))
        self.metrics.add_callback_counter(
            "mg_audit_events", "Audit events (failed logins, refused handshakes) by event and reason, "
            "logged or not", ("event", "reason"), self.audit.counts.items)
        self.metrics.add_callback_gauge(
            "mg_actor_mailbox_depth", "Messages waiting in each actor's mailbox", "actor",
            lambda: ((name, float(ref.depth())) for name in self.registry.names()
                     if (ref := self.registry.get(name)) is not None),
        )
        self.metrics.add_callback_gauge(
            "mg_dependency_up", "1 while an outside service is reachable", "dependency",
            lambda: [] if self.services is None else
            [("database", float(self.services.storage.healthy))]
            + ([("redis", float(self.services.kv.healthy))] if config.redis_url else []),
        )

    # -- what the system methods report (protocol.api.system.Node) ------------------

    def health(self) -> dict[str, object]:
        states = self.supervisor.states() if self.supervisor is not None else {}
        if self.shutting_down:
            status = "shutting_down"
        elif all(s == "running" for s in states.values()) and (self.services is None or self.services.kv.healthy):
            status = "ok"
        else:
            status = "degraded"
        return {"status": status, "version": self.version, "actors": states}

    def discover(self) -> dict[str, object]:
        return reference.openrpc(self.table, servers=[reference.server(self.config.host, self.ws_port)])

    # -- running ----------------------------------------------------------------------

    async def _hold_services(self, *, task_status: trio.TaskStatus[Services] = trio.TASK_STATUS_IGNORED) -> None:
        """Keep storage and the KV open in a task of their own until the close-pools phase:
        their context managers hold cancel scopes, which must be left by the task that
        entered them."""
        async with open_services(self.config) as services:
            task_status.started(services)
            await self._release_services.wait()
        self._services_released.set()

    async def _close_services(self) -> None:
        self._release_services.set()
        await self._services_released.wait()

    def request_shutdown(self) -> None:
        """Begin the same graceful shutdown as SIGTERM (used by tests and embedders)."""
        self._stop_requested.set()

    async def run(self, *, task_status: trio.TaskStatus[tuple[int, int]] = trio.TASK_STATUS_IGNORED) -> int:
        """Serve; `task_status.started((ws_port, admin_port))` once ready."""
        cfg = self.config
        with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
            async with asyncio_bridge(cfg), trio.open_nursery() as nursery:
                services: Services = await nursery.start(self._hold_services)
                self.services = services
                self.table.cursors = CursorCodec(services.jwt_secret.encode())
                self.audit.key = audit_key(services.jwt_secret)
                env = DomainEnv(services.storage, services.kv, self.registry, self.node_id)
                domains = self.domains = start_domains(cfg, env, services.jwt_secret, self.metrics,
                                                       self.revocations)
                supervisor = self.supervisor = Supervisor("root", domains.children(), registry=self.registry,
                                                          on_event=self.metrics.on_runtime_event)
                await nursery.start(supervisor.run)
                for task in serve_methods(self.table, domains, self, self.revocations, self.gateway, self.audit):
                    nursery.start_soon(task)
                if self.worker is None:
                    admin_port = await nursery.start(self.admin.serve, cfg.admin_host, cfg.admin_port)
                else:  # the admin port is the main process's
                    await nursery.start(self.admin.serve_unix, self.worker.brief.admin_socket)
                    admin_port = cfg.admin_port
                # The console on the admin port is one of the gateway's own pages.
                self.gateway.origins = attrs.evolve(self.gateway.origins, sibling_ports=frozenset({admin_port}))
                ws_port = self.ws_port = await nursery.start(
                    partial(self.gateway.serve, shared=self.worker is not None), cfg.host, cfg.port)
                self.ready = True
                if self.worker is None:
                    log.info("listening ws=%s:%s admin=%s:%s", cfg.host, ws_port, cfg.admin_host, admin_port,
                             extra={"event": "listening", "ws_port": ws_port, "admin_port": admin_port})
                else:
                    self.worker.ready(ws_port)
                    nursery.start_soon(self.worker.watch_main, self.request_shutdown)
                task_status.started((ws_port, admin_port))
                await self._wait_for_stop(signals)
                clean = await self.shutdown(supervisor)
                nursery.cancel_scope.cancel()
        if clean:
            log.info("stopped gracefully", extra={"event": "shutdown.done"})
            return 0
        log.error("shutdown exceeded %.1f s; remaining work was cancelled", cfg.shutdown_timeout,
                  extra={"event": "shutdown.timeout"})
        return 1

    async def _wait_for_stop(self, signals: AsyncIterator[int]) -> None:
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

    async def shutdown(self, supervisor: Supervisor) -> bool:
        """The phases of the contract, each with a deadline, under --shutdown-timeout."""
        cfg = self.config
        total = cfg.shutdown_timeout
        coord = ShutdownCoordinator(total)
        coord.add_phase("stop-accepting", 1.0)
        drain_for = total * 0.5  # within the whole: a drain that ends at its deadline is the normal path
        coord.add_phase("drain-connections", drain_for)
        coord.add_phase("close-connections", 2.0)
        coord.add_phase("stop-actors", max(1.0, total * 0.3))
        coord.add_phase("close-pools", 2.0)

        async def stop_accepting() -> None:
            self.ready = False
            self.shutting_down = True
            self.gateway.begin_shutdown()

        async def drain() -> None:
            await self.gateway.drain(cfg.drain_quiet, deadline=trio.current_time() + drain_for * 0.9)

        coord.add_task("stop-accepting", "websocket", stop_accepting)
        coord.add_task("drain-connections", "websocket", drain)
        coord.add_task("close-connections", "websocket", self.gateway.close_all)
        coord.add_task("stop-actors", "supervisor", supervisor.stop)
        coord.add_task("close-pools", "storage", self._close_services)
        return await coord.run()
