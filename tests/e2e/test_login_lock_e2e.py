"""The login lock over real sockets: wrong passwords pipelined on several connections
(and on two nodes sharing PostgreSQL and Redis) are counted as they are admitted, so
no more than the limit (5) are ever checked; the rest get -32006 with retry_after."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import trio

from tests.auth_helpers import PASSWORD, fresh_email, register_and_login
from tests.conftest import RunningApp
from tests.services import pg_database, pg_url, redis_url  # noqa: F401
from tests.support import connect, raw_call, start_nodes, stop

INVALID_CREDENTIALS, OVERLOADED = -32010, -32006


async def pipelined_logins(urls: list[str], email: str, per_connection: int = 8) -> list[dict[str, Any]]:
    """Wrong passwords for `email`: `per_connection` requests sent at once on one
    connection per url, all connections together; every answer."""
    answers: list[dict[str, Any]] = []

    async def one(url: str, go: trio.Event) -> None:
        async with connect(url) as client:
            await go.wait()
            frames = [orjson.dumps({"jsonrpc": "2.0", "id": i, "method": "auth.login",
                                    "params": {"email": email, "password": f"wrong guess {i}"}}).decode()
                      for i in range(per_connection)]
            for frame in frames:
                await client.send_raw(frame)
            for _ in frames:
                answers.append(await client.next_message())

    go = trio.Event()
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            for url in urls:
                nursery.start_soon(one, url, go)
            await trio.sleep(0.2)  # every connection open and waiting
            go.set()
    return answers


def check(answers: list[dict[str, Any]], sent: int) -> None:
    codes = [a["error"]["code"] for a in answers]
    assert len(codes) == sent and set(codes) <= {INVALID_CREDENTIALS, OVERLOADED}, codes
    assert codes.count(INVALID_CREDENTIALS) == 5, f"{codes.count(INVALID_CREDENTIALS)} wrong passwords checked"
    waits = [a["error"]["data"]["retry_after"] for a in answers if a["error"]["code"] == OVERLOADED]
    assert all(0 < w <= 30.1 for w in waits), waits


async def test_32_wrong_passwords_on_4_connections_check_at_most_5(gateway: RunningApp) -> None:
    user = await register_and_login(gateway.url, fresh_email("locked"))
    check(await pipelined_logins([gateway.url] * 4, user["email"]), 32)
    async with connect(gateway.url) as client:  # the lock holds for the right password too
        answer = await raw_call(client, orjson.dumps({
            "jsonrpc": "2.0", "id": 1, "method": "auth.login",
            "params": {"email": user["email"], "password": PASSWORD}}))
        assert answer["error"]["code"] == OVERLOADED  # type: ignore[index]
        assert await client.call("system.ping") == {"pong": True}


async def test_two_nodes_sharing_redis_count_one_streak(tmp_path: Path, pg_url: str, redis_url: str) -> None:  # noqa: F811
    a, b = start_nodes(tmp_path, "--database-url", pg_url, "--redis-url", redis_url,
                       env={"JWT_SECRET": "s" * 32})
    try:
        user = await register_and_login(a.url, fresh_email("locked"))
        check(await pipelined_logins([a.url, b.url, a.url, b.url], user["email"]), 32)
    finally:
        stop(a, b)
