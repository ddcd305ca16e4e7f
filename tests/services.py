"""Fixtures for tests that need PostgreSQL or Redis (loaded by tests/conftest.py).

PostgreSQL: one fresh database ``mg_test_<random>`` per test session (dropped at
the end) on ``MG_TEST_POSTGRES_URL`` (default the local server), and one fresh
schema per test inside it. Redis: ``MG_TEST_REDIS_URL`` (default the local server),
with random key and channel names per test; tests that restart Redis start their
own ``redis-server`` on a free port. When a service is missing the tests skip,
except under CI=true, where they fail.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
import trio_asyncio

from actors.kv import KV, connect_kv
from actors.storage import Storage, connect_storage, migrate

PG_ADMIN_URL = os.environ.get(
    "MG_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("MG_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def missing_service(what: str) -> None:
    """Skip, or fail under CI, where every backend must be exercised."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{what} is required under CI=true", pytrace=False)
    pytest.skip(f"{what} not available")


def with_database(url: str, database: str, **query: str) -> str:
    parts = urlsplit(url)
    params = "&".join(f"{k}={v}" for k, v in query.items())
    return urlunsplit((parts.scheme, parts.netloc, "/" + database, params, ""))


async def _pg_admin(*statements: str, url: str = PG_ADMIN_URL) -> None:
    import asyncpg

    con = await asyncpg.connect(url, timeout=5)
    try:
        for statement in statements:
            await con.execute(statement)
    finally:
        await con.close()


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """URL of a fresh database for this test session."""
    name = f"mg_test_{secrets.token_hex(4)}"
    try:
        asyncio.run(_pg_admin(f'CREATE DATABASE "{name}"'))
    except (OSError, asyncio.TimeoutError) as exc:
        missing_service(f"PostgreSQL at {PG_ADMIN_URL} ({exc})")
    try:
        yield with_database(PG_ADMIN_URL, name)
    finally:
        asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def pg_url(pg_database: str) -> str:
    """URL of an empty schema of its own in the session database (its search_path)."""
    schema = f"t_{secrets.token_hex(4)}"
    asyncio.run(_pg_admin(f'CREATE SCHEMA "{schema}"', url=pg_database))
    return with_database(pg_database, urlsplit(pg_database).path.lstrip("/"), search_path=schema)


@pytest.fixture
async def aio_loop() -> AsyncIterator[object]:
    """A trio-asyncio loop around the test (needed by the PostgreSQL and Redis
    adapters)."""
    async with trio_asyncio.open_loop() as loop:
        yield loop


@pytest.fixture(params=["sqlite", "postgres"])
def storage_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A URL of an empty database, for each adapter in turn."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/data/gateway.db"
    return request.getfixturevalue("pg_url")


@pytest.fixture
async def raw_storage(aio_loop: object, storage_url: str) -> AsyncIterator[Storage]:
    """An open storage on an empty database."""
    async with connect_storage(storage_url, pool_size=4, timeout=5.0) as storage:
        yield storage


@pytest.fixture
async def storage(raw_storage: Storage) -> Storage:
    """An open storage with every migration applied."""
    await migrate(raw_storage)
    return raw_storage


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def redis_url() -> str:
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.exceptions.RedisError as exc:
        missing_service(f"Redis at {REDIS_URL} ({exc})")
    finally:
        client.close()
    return REDIS_URL


class RedisServer:
    """A throwaway redis-server that a test can stop and start again on its port."""

    def __init__(self, binary: str, port: int) -> None:
        self.binary = binary
        self.port = port
        self.url = f"redis://127.0.0.1:{port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no", "--daemonize", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                time.sleep(0.02)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None


@pytest.fixture(params=["memory", "redis"])
async def kv(request: pytest.FixtureRequest, aio_loop: object) -> AsyncIterator[KV]:
    """The in-process KV, then one on Redis."""
    url = None if request.param == "memory" else request.getfixturevalue("redis_url")
    async with connect_kv(url, timeout=1.0) as kv:
        yield kv


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    binary = shutil.which("redis-server")
    if binary is None:
        missing_service("redis-server binary")
    server = RedisServer(binary, free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def promtool() -> str:
    """Prometheus's `promtool` (Debian's `prometheus` package; `.ci/run` installs it)."""
    path = shutil.which("promtool")
    if path is None:
        missing_service("promtool")
    assert path is not None
    return path
