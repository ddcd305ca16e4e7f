"""PostgreSQL going away under a running gateway: fast errors, nothing crashes, recovery."""

from __future__ import annotations

import time
from urllib.parse import urlsplit, urlunsplit

import pytest
import trio

from actors.catalog.messages import Upsert
from actors.catalog.model import ContentItem
from protocol import errors
from gateway.app import App
from mgclient import RpcError as RpcClientError
from tests.conftest import make_config
from tests.support import FlakyProxy, connect

DB_TIMEOUT = 1.5


def through(url: str, port: int) -> str:
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)
    host = f"127.0.0.1:{port}"
    return urlunsplit((parts.scheme, f"{netloc[0]}@{host}" if len(netloc) == 2 else host,
                       parts.path, parts.query, parts.fragment))


async def test_postgres_outage_fails_fast_and_recovers(nursery, tmp_path, pg_url) -> None:
    target = urlsplit(pg_url)
    proxy = FlakyProxy(target.hostname or "127.0.0.1", target.port or 5432)
    port = await nursery.start(proxy.run)
    app = App(make_config(tmp_path, database_url=through(pg_url, port), db_timeout=DB_TIMEOUT))
    ws_port, _ = await nursery.start(app.run)
    url = f"ws://127.0.0.1:{ws_port}/v1"
    item = ContentItem(id="x1", title="Heat", type="movie", year=1995)
    await app.registry.lookup("catalog").ask(Upsert((item,)))

    async with connect(url) as client:
        assert (await client.call("content.get", {"id": "x1"}))["title"] == "Heat"
        proxy.cut()
        # What memory can answer goes on: the search index holds the catalog.
        assert (await client.call("content.get", {"id": "x1"}))["title"] == "Heat"
        assert (await client.call("search.query", {"query": "heat"}))["items"][0]["id"] == "x1"
        assert [i["id"] for i in (await client.call("content.list", {"page": 1}))["items"]] == ["x1"]
        assert [i["id"] for i in (await client.call("content.list", {"limit": 5}))["items"]] == ["x1"]
        for method, params in [("content.get", {"id": "not-in-memory"})]:
            started = time.monotonic()
            with pytest.raises(RpcClientError) as info:
                await client.call(method, params)
            assert info.value.code in (errors.OVERLOADED, errors.TIMED_OUT), info.value
            assert time.monotonic() - started < DB_TIMEOUT * 2 + 1
        assert await client.call("system.ping") == {"pong": True}
        proxy.restore()
        with trio.fail_after(15):
            while True:
                try:
                    assert (await client.call("content.list", {"limit": 5}))["items"][0]["id"] == "x1"
                    break
                except RpcClientError as exc:
                    assert exc.code in (errors.OVERLOADED, errors.TIMED_OUT)
                    await trio.sleep(0.1)
        assert (await client.call("content.list", {"limit": 5}))["items"][0]["id"] == "x1"
        assert app.health()["actors"]["catalog"] == "running"
    app.request_shutdown()
