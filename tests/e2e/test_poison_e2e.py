"""A request that crashes an actor, end to end over real sockets: the caller gets a
clean -32603 (no trace, no detail), the actor is back for the next request, and no
number of such requests makes the gateway exit.

Two gateways: an in-process one with an extra test domain whose actor crashes on
demand (any message, any rate: the runtime guarantee, independent of whatever the
domains validate), and a real process sent requests that crash a real actor today
(`content.upsert` with a number that storage cannot hold) -- once validation refuses
those at the edge they answer -32602, and the process must survive either way.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, AsyncIterator

import attrs
import orjson
import pytest
import trio

import gateway.app as app_module
from gateway.app import App
from gateway.domains import Domains
from protocol import errors
from protocol.calls import Call
from mgclient import RpcError as RpcClientError
from protocol.methods import MethodTable, method
from runtime import Actor, ChildSpec, Registry
from tests.auth_helpers import PASSWORD, create_user_cli, login
from tests.conftest import RunningApp, make_config
from tests.support import GatewayProcess, connect, http_get, raw_call, stop


@attrs.frozen
class Explode:
    how: str


class Fragile(Actor):
    async def started(self) -> None:
        self.handled = 0

    async def receive(self, msg: object) -> object:
        self.handled += 1
        if isinstance(msg, Explode):
            if msg.how == "overflow":
                return float(10**400)  # OverflowError
            raise KeyError(msg.how)
        return self.handled


async def explode(call: Call[Registry]) -> Any:
    return await call.domain.lookup("fragile").ask(Explode(call.params["how"]))


async def count(call: Call[Registry]) -> Any:
    return await call.domain.lookup("fragile").ask("count")


class WithFragile:
    """The node's domains plus an actor that crashes on every message but "count"."""

    def __init__(self, domains: Domains) -> None:
        self._domains = domains

    def __getattr__(self, name: str) -> Any:
        return getattr(self._domains, name)

    def children(self) -> list[ChildSpec]:
        return [*self._domains.children(), ChildSpec("fragile", Fragile)]


@pytest.fixture
async def fragile_gateway(nursery: trio.Nursery, tmp_path: Path,
                          monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[RunningApp]:
    """A whole gateway with `test.explode` (asks the fragile actor) and `test.count`."""
    start_domains, serve_methods = app_module.start_domains, app_module.serve_methods

    def serve_with_fragile(table: MethodTable, domains: Any, node: Any, *args: Any) -> Any:
        tasks = serve_methods(table, domains, node, *args)
        table.add(method("test.explode", explode, params={
            "type": "object", "properties": {"how": {"type": "string"}}, "required": ["how"]}), app.registry)
        table.add(method("test.count", count), app.registry)
        return tasks

    monkeypatch.setattr(app_module, "start_domains", lambda *a, **k: WithFragile(start_domains(*a, **k)))
    monkeypatch.setattr(app_module, "serve_methods", serve_with_fragile)
    app = App(make_config(tmp_path))
    ended = trio.Event()
    exit_codes: list[int] = []

    async def run(task_status: trio.TaskStatus[Any] = trio.TASK_STATUS_IGNORED) -> None:
        try:
            exit_codes.append(await app.run(task_status=task_status))
        finally:
            ended.set()

    ws_port, admin_port = await nursery.start(run)
    running = RunningApp(app, ws_port, admin_port)
    yield running
    assert not ended.is_set(), "the gateway ended while the test ran"
    app.request_shutdown()
    with trio.fail_after(30):
        await ended.wait()
    assert exit_codes == [0]


async def test_requests_that_crash_an_actor_get_a_clean_error_and_never_stop_the_gateway(
    fragile_gateway: RunningApp,
) -> None:
    app = fragile_gateway.app
    async with connect(fragile_gateway.url) as client:
        with trio.fail_after(5):  # far more than the root's intensity (3 in 5 s)
            for n in range(40):
                how = "overflow" if n % 2 else f"key {n}"
                with pytest.raises(RpcClientError) as info:
                    await client.call("test.explode", {"how": how})
                assert (info.value.code, info.value.message, info.value.data) == \
                    (errors.INTERNAL_ERROR, "Internal error", None)
        # A batch and notifications of poison, pipelined on one connection.
        batch = [{"jsonrpc": "2.0", "id": i, "method": "test.explode", "params": {"how": "x"}}
                 for i in range(10)]
        batch += [{"jsonrpc": "2.0", "method": "test.explode", "params": {"how": "x"}}] * 10
        answers = await raw_call(client, orjson.dumps(batch))
        assert sorted(a["id"] for a in answers) == list(range(10))
        assert all(a["error"] == {"code": -32603, "message": "Internal error"} for a in answers)
        # Each crash restarted the actor: the answer comes from a fresh incarnation.
        assert await client.call("test.count") == 1
        assert await client.call("system.ping") == {"pong": True}
        health = await client.call("system.health")
    assert health["status"] == "ok" and set(health["actors"].values()) == {"running"}
    assert app.supervisor is not None and app.supervisor.restarts >= 60
    status, metrics = await http_get(fragile_gateway.admin + "/metrics")
    assert status == 200 and 'mg_actor_crashes_total{actor="fragile"}' in metrics.decode()


async def test_a_gateway_process_survives_requests_that_crash_its_actors(tmp_path: Path) -> None:
    data = tmp_path / "data"
    create_user_cli("--data-dir", str(data), email="root@example.com", admin=True)
    node = GatewayProcess(data)
    try:
        token = (await login(node.url, "root@example.com", PASSWORD))["access_token"]
        item = {"id": "t1", "title": "Overflow", "type": "movie", "year": 2000, "genres": [],
                "platforms": [], "rating": 5.0, "popularity": 1.0}
        async with connect(node.url, token) as client:
            with trio.fail_after(10):
                for n in range(8):
                    with pytest.raises(RpcClientError) as info:
                        await client.call("content.upsert", {"items": [{**item, "duration_ms": 2**63 + n}]})
                    # A crash (-32603) today; refused at the edge (-32602) once validated.
                    assert info.value.code in (errors.INTERNAL_ERROR, errors.INVALID_PARAMS)
                    assert "Traceback" not in str(info.value.data)
            assert await client.call("system.ping") == {"pong": True}
            assert await client.call("content.upsert", {"items": [{**item, "duration_ms": 1000}]})
            assert (await client.call("content.get", {"id": "t1"}))["duration_ms"] == 1000
        assert node.proc.poll() is None
    finally:
        stop(node)
    assert node.proc.returncode == 0, node.log
    assert "gives up" not in node.log
