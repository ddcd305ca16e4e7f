"""mgclient against a real gateway: typed methods, token refresh, reconnection with
back-off, notifications, and exceptions carrying the JSON-RPC code and data."""

from __future__ import annotations

import random
from typing import Any

import pytest
import trio

import mgclient
from gateway.reference import reference_document
from mgclient import Backoff, open_client
from tests.auth_helpers import PASSWORD, fresh_email
from tests.support import FlakyProxy

QUICK = Backoff(initial=0.01, maximum=0.05, attempts=200)


async def test_typed_methods_keep_the_session_and_raise_by_code(gateway: Any) -> None:
    grants: list[dict[str, Any]] = []
    async with open_client(gateway.url, on_tokens=grants.append, backoff=QUICK) as client:
        email = fresh_email()
        registered = await client.auth.register(email=email, password=PASSWORD)
        await client.auth.login(email=email, password=PASSWORD)
        assert client.access_token == grants[0]["access_token"]
        profile = await client.user.profile()  # the connection was authenticated with the new token
        assert profile["user_id"] == registered["user_id"] and profile["email"] == email
        with pytest.raises(mgclient.NotFound) as missing:
            await client.content.get(id="nothing-here")
        assert missing.value.code == -32004
        with pytest.raises(mgclient.InvalidParams) as bad:
            await client.search.query(query="x", limit=1000)
        assert bad.value.code == -32602 and bad.value.errors[0]["field"] == "limit"
        assert "limit" in str(bad.value)
        with pytest.raises(mgclient.PermissionDenied):
            await client.content.upsert(items=[{"id": "x", "title": "X", "type": "movie", "year": 2000}])
        await client.auth.logout()
        assert client.access_token is None
        with pytest.raises(mgclient.AuthRequired):
            await client.user.profile()


async def test_an_expired_access_token_is_refreshed_and_the_call_sent_again(gateway: Any) -> None:
    domain = gateway.app.domains.tokens
    async with open_client(gateway.url, backoff=QUICK) as client:
        email = fresh_email()
        await client.auth.register(email=email, password=PASSWORD)
        first = await client.auth.login(email=email, password=PASSWORD)
        domain.clock.advance(first["expires_in"] + domain.guard.state.codec.leeway + 1)
        assert (await client.user.profile())["email"] == email
        assert client.refresh_token != first["refresh_token"]


async def test_it_reconnects_with_backoff_and_authenticates_again(gateway: Any, nursery: trio.Nursery) -> None:
    host, port = gateway.url.split("//")[1].split("/")[0].split(":")
    proxy = FlakyProxy(host, int(port))
    proxy_port = await nursery.start(proxy.run)
    # A cut proxy accepts and closes at once, which trio-websocket's handshake only
    # notices at the connect timeout: keep it short.
    async with open_client(f"ws://127.0.0.1:{proxy_port}/v1", backoff=QUICK, connect_wait=10,
                           connect_timeout=0.3) as client:
        email = fresh_email()
        await client.auth.register(email=email, password=PASSWORD)
        await client.auth.login(email=email, password=PASSWORD)
        proxy.cut()
        with trio.fail_after(5):
            while client.connected:  # until it notices
                await trio.sleep(0.01)
        proxy.restore()
        with trio.fail_after(10):
            assert (await client.user.profile())["email"] == email  # waits for the new connection
        assert client.connections >= 2


async def test_it_gives_up_after_the_backoffs_attempts(gateway: Any, nursery: trio.Nursery) -> None:
    host, port = gateway.url.split("//")[1].split("/")[0].split(":")
    proxy = FlakyProxy(host, int(port))
    proxy_port = await nursery.start(proxy.run)
    async with open_client(f"ws://127.0.0.1:{proxy_port}/v1", backoff=Backoff(initial=0.01, attempts=3),
                           connect_timeout=0.3) as client:
        await client.system.ping()
        proxy.cut()
        with trio.fail_after(10):
            while True:
                try:
                    await client.system.ping()
                except mgclient.ConnectionClosed:
                    continue  # the call in flight when the cut came
                except mgclient.TransportError as exc:
                    assert exc is client.failure
                    break
                await trio.sleep(0.01)


async def test_notifications_arrive_as_an_async_iterator(gateway: Any) -> None:
    async with open_client(gateway.url, backoff=QUICK) as client, open_client(gateway.url) as other:
        email = fresh_email()
        await client.auth.register(email=email, password=PASSWORD)
        grant = await client.auth.login(email=email, password=PASSWORD)
        await other.auth.login(email=email, password=PASSWORD)
        await other.auth.revoke_family(family_id=grant["family_id"])
        with trio.fail_after(5):
            async for note in client.notifications():
                assert note == mgclient.Notification("auth.revoked", {"family_id": grant["family_id"],
                                                                      "reason": "revoked_by_owner"})
                break
        with trio.fail_after(5):
            while client.access_token is not None:  # closed with 4401: the session is over
                await trio.sleep(0.01)
        assert await client.system.ping() == {"pong": True}  # on a new, anonymous connection


async def test_an_unreachable_gateway_is_a_transport_error() -> None:
    from tests.services import free_port

    with pytest.raises(mgclient.Unreachable, match="cannot reach"):
        async with open_client(f"ws://127.0.0.1:{free_port()}/v1", backoff=Backoff(attempts=1)):
            pass


def test_the_typed_methods_are_the_method_table() -> None:
    declared = [m["name"] for m in reference_document()["methods"]]
    assert list(mgclient.METHOD_NAMES) == declared, "run `python main.py docs`"
    methods = mgclient.Methods(None)  # type: ignore[arg-type]
    for name in declared:
        domain, *rest = name.split(".")
        assert callable(getattr(getattr(methods, domain), "_".join(rest))), name


def test_backoff_grows_to_its_maximum_with_jitter_and_stops() -> None:
    delays = list(Backoff(initial=0.1, factor=2, maximum=1.0, jitter=0.5, attempts=7).delays(random.Random(1)))
    assert len(delays) == 6
    ceilings = [0.1, 0.2, 0.4, 0.8, 1.0, 1.0]
    assert all(c / 2 <= d <= c for d, c in zip(delays, ceilings))


async def test_a_session_revoked_while_away_ends_on_reconnect(gateway: Any, nursery: trio.Nursery) -> None:
    host, port = gateway.url.split("//")[1].split("/")[0].split(":")
    proxy = FlakyProxy(host, int(port))
    proxy_port = await nursery.start(proxy.run)
    async with open_client(f"ws://127.0.0.1:{proxy_port}/v1", backoff=QUICK, connect_timeout=0.3) as client, \
            open_client(gateway.url) as other:
        email = fresh_email()
        await client.auth.register(email=email, password=PASSWORD)
        grant = await client.auth.login(email=email, password=PASSWORD)
        proxy.cut()
        await other.auth.login(email=email, password=PASSWORD)
        await other.auth.revoke_family(family_id=grant["family_id"])
        proxy.restore()
        with trio.fail_after(10):
            while client.connections < 2 or not client.connected:
                await trio.sleep(0.01)
        assert client.access_token is None and client.refresh_token is None
        with pytest.raises(mgclient.AuthRequired):
            await client.user.profile()
