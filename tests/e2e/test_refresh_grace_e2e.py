"""Refresh-token reuse grace over real sockets: tabs refreshing with one token at once
on two nodes sharing PostgreSQL and Redis all stay logged in with the same tokens; a
phone retrying a refresh whose answer it lost gets the same answer; after the window
the same retry revokes the family. (Without the grace: tests/test_auth_processes.py.)"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import trio

from mgclient import RpcError as RpcClientError
from tests.auth_helpers import register_and_login
from tests.conftest import RunningApp
from tests.services import pg_database, pg_url, redis_url  # noqa: F401
from tests.support import connect, start_nodes, stop

REUSE, TOKEN_REVOKED = -32009, -32003


async def refresh(url: str, token: str) -> Any:
    async with connect(url) as client:
        try:
            return await client.call("auth.refresh", {"refresh_token": token})
        except RpcClientError as exc:
            return exc.code


async def test_tabs_refreshing_at_once_on_two_nodes_get_the_same_tokens(
        tmp_path: Path, pg_url: str, redis_url: str) -> None:  # noqa: F811
    a, b = start_nodes(tmp_path, "--database-url", pg_url, "--redis-url", redis_url, env={"JWT_SECRET": "s" * 32})
    try:
        user = await register_and_login(a.url)
        answers: list[Any] = []

        async def tab(url: str, go: trio.Event) -> None:
            async with connect(url) as client:
                await go.wait()
                answers.append(await client.call("auth.refresh", {"refresh_token": user["refresh_token"]}))

        go = trio.Event()
        async with trio.open_nursery() as nursery:
            for url in (a.url, b.url, a.url, b.url):
                nursery.start_soon(tab, url, go)
            await trio.sleep(0.2)
            go.set()
        assert len(answers) == 4 and all(answer == answers[0] for answer in answers), answers
        grant = answers[0]
        assert grant["family_id"] == user["family_id"] and grant["refresh_token"] != user["refresh_token"]
        for url in (a.url, b.url):
            async with connect(url, grant["access_token"]) as client:
                assert (await client.call("user.profile"))["user_id"] == user["user_id"]
        assert isinstance(await refresh(b.url, grant["refresh_token"]), dict)
    finally:
        stop(a, b)


async def test_a_retried_refresh_gets_the_same_answer_until_the_window_ends(gateway: RunningApp) -> None:
    user = await register_and_login(gateway.url)
    first = await refresh(gateway.url, user["refresh_token"])
    assert isinstance(first, dict)
    for _ in range(2):  # the answer was lost, twice
        assert await refresh(gateway.url, user["refresh_token"]) == first
    gateway.app.domains.tokens.clock.advance(31)  # the default window is 30 s
    assert await refresh(gateway.url, user["refresh_token"]) == REUSE
    assert await refresh(gateway.url, first["refresh_token"]) == TOKEN_REVOKED
