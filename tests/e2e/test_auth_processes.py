"""Revocation across real gateway processes: after a restart on the same data dir,
and between two nodes sharing one PostgreSQL and one Redis (within a second), also
while Redis is down (each node then polls storage)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import trio
from mgclient import HandshakeRejected as ConnectionRejected

from actors.storage import connect_storage
from actors.tokens.crypto import hash_refresh_token
from mgclient import RpcError as RpcClientError
from tests.auth_helpers import PASSWORD, create_user_cli, login, register_and_login
from tests.services import aio_loop, pg_database, pg_url, redis_server, redis_url  # noqa: F401
from tests.support import GatewayProcess, connect, start_nodes, stop
from tests.e2e.test_auth import rpc_error, until_closed

AUTH_REQUIRED, TOKEN_REVOKED, REUSE = -32001, -32003, -32009
WAITING_TO_SPEND = """SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()
    AND cardinality(pg_blocking_pids(pid)) > 0 AND query LIKE 'UPDATE refresh_tokens SET used_at%'"""


async def refused_at_handshake(url: str, token: str) -> bool:
    try:
        async with connect(url, token):
            return False
    except ConnectionRejected as exc:
        return exc.status_code == 401


async def test_revocation_survives_a_restart(tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = GatewayProcess(data)
    try:
        user = await register_and_login(first.url)
        keeper = await login(first.url, user["email"], PASSWORD)  # another family, never revoked
        async with connect(first.url, user["access_token"]) as client:
            assert await client.call("auth.logout") == {"revoked": True}
    finally:
        assert first.terminate() == 0
    second = GatewayProcess(data)
    try:
        assert await refused_at_handshake(second.url, user["access_token"])
        async with connect(second.url) as client:
            err = await rpc_error(client, "auth.authenticate", {"access_token": user["access_token"]})
            assert err.code == TOKEN_REVOKED
            err = await rpc_error(client, "auth.refresh", {"refresh_token": user["refresh_token"]})
            assert err.code == TOKEN_REVOKED
            # The secret was kept in the data dir: tokens of live families still pass.
            assert (await client.call("auth.authenticate", {"access_token": keeper["access_token"]}))["user_id"]
            assert await client.call("auth.refresh", {"refresh_token": keeper["refresh_token"]})
            assert await client.call("auth.login", {"email": user["email"], "password": PASSWORD})
    finally:
        stop(second)


async def test_create_user_beside_a_running_gateway(tmp_path: Path) -> None:
    data = tmp_path / "data"
    node = GatewayProcess(data)
    try:
        user_id = create_user_cli("--data-dir", str(data), email="Root@Example.com", admin=True)
        grant = await login(node.url, "root@example.com")
        assert grant["user_id"] == user_id
        async with connect(node.url, grant["access_token"]) as client:
            assert (await client.call("user.profile"))["roles"] == ["user", "admin"]
    finally:
        stop(node)


def two_nodes(tmp_path: Path, database_url: str, redis: str, *args: str) -> list[GatewayProcess]:
    # A short secret on purpose: both nodes must derive the same key from it.
    return start_nodes(tmp_path, "--database-url", database_url, "--redis-url", redis, *args,
                       env={"JWT_SECRET": "secret"})


async def test_revocation_reaches_the_other_node_within_a_second(
        tmp_path: Path, pg_url: str, redis_url: str) -> None:  # noqa: F811
    a, b = two_nodes(tmp_path, pg_url, redis_url)
    try:
        user = await register_and_login(a.url)
        async with connect(b.url, user["access_token"]) as on_b, \
                connect(a.url, user["access_token"]) as on_a:
            assert (await on_b.call("user.profile"))["user_id"] == user["user_id"]
            assert await on_a.call("auth.logout") == {"revoked": True}
            started = trio.current_time()
            messages, code = await until_closed(on_b, timeout=1.0)
            elapsed = trio.current_time() - started
        assert code == 4401, elapsed
        assert messages[-1]["params"] == {"family_id": user["family_id"], "reason": "logout"}
        assert await refused_at_handshake(b.url, user["access_token"])
        async with connect(b.url) as client:
            err = await rpc_error(client, "auth.authenticate", {"access_token": user["access_token"]})
            assert err.code == TOKEN_REVOKED

        # Reuse detected on B closes the family's connections on A (the login's token,
        # two rotations old: no grace).
        other = await login(a.url, user["email"])
        async with connect(a.url, other["access_token"]) as on_a:
            async with connect(b.url) as client:
                nxt = await client.call("auth.refresh", {"refresh_token": other["refresh_token"]})
                assert await client.call("auth.refresh", {"refresh_token": nxt["refresh_token"]})
                err = await rpc_error(client, "auth.refresh", {"refresh_token": other["refresh_token"]})
                assert err.code == REUSE
            messages, code = await until_closed(on_a, timeout=1.0)
        assert code == 4401 and messages[-1]["params"]["reason"] == "refresh_token_reuse"
    finally:
        stop(a, b)


async def test_concurrent_refreshes_on_two_nodes_without_grace_exactly_one_wins(
        tmp_path: Path, pg_url: str, redis_url: str, aio_loop: object) -> None:  # noqa: F811
    """With the reuse grace off; with it on (the default): tests/e2e/test_refresh_grace_e2e.py."""
    a, b = two_nodes(tmp_path, pg_url, redis_url, "--refresh-reuse-interval", "0")
    try:
        user = await register_and_login(a.url)
        outcomes: list[Any] = []

        async def refresh(url: str) -> None:
            async with connect(url) as client:
                try:
                    outcomes.append(await client.call("auth.refresh", {"refresh_token": user["refresh_token"]}))
                except RpcClientError as exc:
                    outcomes.append(exc.code)

        # The barrier: the test holds the token's row locked until all four refreshes,
        # on both nodes, are inside their transactions waiting to spend it. Refreshes
        # that ran one after another would never be four at once (deadline).
        async with connect_storage(pg_url, pool_size=2) as storage, trio.open_nursery() as nursery:
            async with storage.transaction() as tx:
                await tx.fetchrow("SELECT used_at FROM refresh_tokens WHERE token_hash = $1 FOR UPDATE",
                                  hash_refresh_token(user["refresh_token"]))
                for url in (a.url, b.url, a.url, b.url):
                    nursery.start_soon(refresh, url)
                with trio.fail_after(20):
                    while await storage.fetchval(WAITING_TO_SPEND) < 4:
                        await trio.sleep(0.02)
        wins = [o for o in outcomes if isinstance(o, dict)]
        assert len(wins) == 1 and sorted(o for o in outcomes if not isinstance(o, dict)) == [REUSE] * 3
    finally:
        stop(a, b)


async def test_revocation_spreads_while_redis_is_down(
        tmp_path: Path, pg_url: str, redis_server: Any) -> None:  # noqa: F811
    a, b = two_nodes(tmp_path, pg_url, redis_server.url)
    try:
        user = await register_and_login(a.url)
        async with connect(b.url, user["access_token"]) as on_b:
            assert await on_b.call("user.profile")
            redis_server.stop()
            async with connect(a.url, user["access_token"]) as on_a:
                assert await on_a.call("auth.logout") == {"revoked": True}
            # Published into the void; B finds it in storage within its poll interval.
            messages, code = await until_closed(on_b, timeout=5.0)
        assert code == 4401 and messages[-1]["params"]["family_id"] == user["family_id"]
    finally:
        stop(a, b)
