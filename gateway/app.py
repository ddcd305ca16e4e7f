"""The gateway process: storage, actors, the WebSocket and admin ports, and shutdown.

Each domain is a module of `protocol.api` with up to two functions:
`children(services) -> list[ChildSpec]` (its actors, started in list order) and
`register(table, services)` (its methods). `DOMAINS` is the whole application.
"""

from __future__ import annotations

import logging
import secrets
import signal
from contextlib import AsyncExitStack, asynccontextmanager
from types import ModuleType
from typing import Any, AsyncIterator

import attrs
import trio

from actors.kv import KV, connect_kv
from actors.storage import Storage, connect_storage, dialect_of, migrate
from gateway.config import Config
from gateway.metrics import Metrics
from protocol import jsonrpc
from protocol.admin import AdminServer
from protocol.api import catalog, experiments, playback, search, system, tokens
from protocol.methods import MethodTable
from protocol.paging import CursorCodec
from protocol.transport import TransportLimits, WebSocketGateway
from runtime import ActorRef, Registry, ShutdownCoordinator, Supervisor

log = logging.getLogger("gateway")

VERSION = "0.1.0"

DOMAINS: list[ModuleType] = [system, catalog, search, tokens, experiments, playback]


@attrs.define
class Services:
    """What domains and method handlers may use: actors by name, storage, config."""

    config: Config
    registry: Registry
    metrics: Metrics
    storage: Storage = None  # type: ignore[assignment]
    kv: KV = None  # type: ignore[assignment]
    cursors: CursorCodec = None  # type: ignore[assignment]
    jwt_secret: str = ""
    node_id: str = attrs.Factory(lambda: secrets.token_hex(6))
    version: str = VERSION
    supervisor: Supervisor | None = None
    gateway: WebSocketGateway | None = None
    shutting_down: bool = False
    domain_state: dict[str, Any] = attrs.Factory(dict)
    """Objects a domain's children() makes for its register() (and tests), by domain name."""

    def actor(self, name: str) -> ActorRef:
        return self.registry.lookup(name)

    def health(self) -> dict[str, Any]:
        states = self.supervisor.states() if self.supervisor is not None else {}
        if self.shutting_down:
            status = "shutting_down"
        elif all(s == "running" for s in states.values()) and (self.kv is None or self.kv.healthy):
            status = "ok"
        else:
            status = "degraded"
        return {"status": status, "version": self.version, "actors": states}


@asynccontextmanager
async def asyncio_bridge(config: Config) -> AsyncIterator[None]:
    """trio-asyncio's loop, opened only when an asyncio driver (asyncpg, redis) is used."""
    if dialect_of(config.effective_database_url) == "postgres" or config.redis_url:
        import trio_asyncio

        async with trio_asyncio.open_loop():
            yield
    else:
        yield


@asynccontextmanager
async def open_services(config: Config, services: "Services") -> AsyncIterator[None]:
    """Storage (migrated), the key-value store and the secrets, for serve and the CLI."""
    async with AsyncExitStack() as stack:
        services.storage = await stack.enter_async_context(
            connect_storage(config.effective_database_url, pool_size=config.db_pool_size, timeout=config.db_timeout))
        for name in await migrate(services.storage):
            log.info("applied migration %s", name, extra={"event": "migration.applied", "migration": name})
        services.kv = await stack.enter_async_context(connect_kv(config.redis_url))
        services.jwt_secret = config.effective_jwt_secret()
        services.cursors = CursorCodec(services.jwt_secret.encode())
        yield


class App:
    """One gateway process. `run()` serves until SIGTERM/SIGINT and returns the exit code."""

    def __init__(self, config: Config, *, domains: list[ModuleType] | None = None) -> None:
        self.config = config
        self.domains = DOMAINS if domains is None else domains
        self.metrics = Metrics()
        self.registry = Registry()
        self.services = Services(config=config, registry=self.registry, metrics=self.metrics)
        self.table = MethodTable()
        self.engine = jsonrpc.Engine(self.table, on_call=self.metrics.observe_call)
        self.gateway = WebSocketGateway(
            self.engine,
            limits=TransportLimits(slow_client_timeout=config.slow_client_timeout),
            on_connections_changed=self.metrics.connections.set,
        )
        self.services.gateway = self.gateway
        self.admin = AdminServer(ready=lambda: self.ready, metrics=self.metrics.render)
        self.ready = False
        self._stop_requested = trio.Event()
        self._release_services = trio.Event()
        self._services_released = trio.Event()
        self.metrics.add_callback_gauge(
            "mg_actor_mailbox_depth", "Messages waiting in each actor's mailbox", "actor",
            lambda: ((name, float(ref.depth())) for name in self.registry.names()
                     if (ref := self.registry.get(name)) is not None),
        )
        self.metrics.add_callback_gauge(
            "mg_dependency_up", "1 while an outside service is reachable", "dependency",
            lambda: [(name, float(dep.healthy)) for name, dep in
                     (("database", self.services.storage), ("redis", self.services.kv if config.redis_url else None))
                     if dep is not None],
        )

    async def _hold_services(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Keep storage and the KV open in a task of their own until the close-pools phase:
        their context managers hold cancel scopes, which must be left by the task that
        entered them."""
        async with open_services(self.config, self.services):
            task_status.started()
            await self._release_services.wait()
        self._services_released.set()

    async def _close_services(self) -> None:
        self._release_services.set()
        await self._services_released.wait()

    def request_shutdown(self) -> None:
        """Begin the same graceful shutdown as SIGTERM (used by tests and embedders)."""
        self._stop_requested.set()

    async def run(self, *, task_status: trio.TaskStatus[Any] = trio.TASK_STATUS_IGNORED) -> int:
        cfg = self.config
        with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
            async with asyncio_bridge(cfg), trio.open_nursery() as nursery:
                await nursery.start(self._hold_services)
                children = [spec for d in self.domains if hasattr(d, "children")
                            for spec in d.children(self.services)]
                supervisor = Supervisor("root", children, registry=self.registry,
                                        on_event=self.metrics.on_runtime_event)
                self.services.supervisor = supervisor
                await nursery.start(supervisor.run)
                for domain in self.domains:
                    domain.register(self.table, self.services)
                admin_port = await nursery.start(self.admin.serve, cfg.host, cfg.admin_port)
                ws_port = await nursery.start(self.gateway.serve, cfg.host, cfg.port)
                log.info("listening ws=%s:%s admin=%s:%s", cfg.host, ws_port, cfg.host, admin_port,
                         extra={"event": "listening", "ws_port": ws_port, "admin_port": admin_port})
                self.ready = True
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

    async def shutdown(self, supervisor: Supervisor) -> bool:
        """The phases of the contract, each with a deadline, under --shutdown-timeout."""
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
        coord.add_task("close-pools", "storage", self._close_services)
        return await coord.run()
