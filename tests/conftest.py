"""Shared fixtures: an in-process gateway on free ports, and the service checks."""

from __future__ import annotations

import os
from pathlib import Path
from typing import AsyncIterator

import pytest
import trio

from gateway.app import App
from gateway.config import Config

IN_CI = os.environ.get("CI") == "true"

# Cheap Argon2 parameters for every gateway the tests start, in-process or as a
# subprocess (they inherit the environment); production keeps the strong defaults.
os.environ.setdefault("MG_ARGON2_PROFILE", "test")

pytest_plugins = ["tests.services"]


def make_config(tmp_path: Path, **overrides: object) -> Config:
    return Config(port=0, admin_port=0, data_dir=tmp_path / "data", jwt_secret="x" * 48,
                  shutdown_timeout=10.0, drain_quiet=0.1, **overrides)  # type: ignore[arg-type]


class RunningApp:
    def __init__(self, app: App, ws_port: int, admin_port: int) -> None:
        self.app = app
        self.url = f"ws://127.0.0.1:{ws_port}/v1"
        self.admin = f"http://127.0.0.1:{admin_port}"
        self.exit_code: int | None = None
        self.exited = trio.Event()


SHUTDOWN_WAIT = 20.0
"""Seconds the fixture waits for a gateway's graceful stop (its own limit is 10)."""


@pytest.fixture
async def gateway(nursery: trio.Nursery, tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[RunningApp]:
    """A whole gateway (SQLite under tmp_path) serving real sockets inside this test's
    trio run. After the test it is shut down as SIGTERM would, and must stop gracefully
    (exit code 0) in time. `@pytest.mark.gateway_config(name=value)` sets Config fields
    (say `rate_limit=0` for a test that sends far faster than any app on one connection)."""
    marker = request.node.get_closest_marker("gateway_config")
    app = App(make_config(tmp_path, **(marker.kwargs if marker else {})))
    running: RunningApp | None = None

    async def run(task_status: trio.TaskStatus[tuple[int, int]] = trio.TASK_STATUS_IGNORED) -> None:
        code = await app.run(task_status=task_status)
        assert running is not None
        running.exit_code = code
        running.exited.set()

    ws_port, admin_port = await nursery.start(run)
    running = RunningApp(app, ws_port, admin_port)
    yield running
    app.request_shutdown()
    with trio.fail_after(SHUTDOWN_WAIT):
        await running.exited.wait()
    assert running.exit_code == 0, "the gateway did not stop gracefully"
