"""auth.* and user.profile through a whole in-process gateway over real sockets:
logins, refresh rotation and reuse, logout and revocation (with the auth.revoked
notification and close 4401), bad tokens of every kind, expiry on the domain's clock."""

from __future__ import annotations

import base64
import time
from datetime import datetime
from typing import Any

import attrs
import jwt
import orjson
import pytest
import trio
from mgclient import ConnectionClosed, HandshakeRejected as ConnectionRejected

from actors.tokens import TokensDomain
from gateway.app import App
from mgclient import Connection as Client, RpcError as RpcClientError
from tests.auth_helpers import PASSWORD, create_user, fresh_email, login, new_user
from tests.conftest import make_config
from tests.support import connect

AUTH_REQUIRED, PERMISSION_DENIED, TOKEN_REVOKED, NOT_FOUND = -32001, -32002, -32003, -32004
CONFLICT, REUSE, INVALID_CREDENTIALS, INVALID_PARAMS = -32005, -32009, -32010, -32602

KEY = b"x" * 48  # the conftest gateway's JWT secret, long enough to be the key itself
ISSUER, AUDIENCE = "media-gateway", "media-gateway-clients"


def tokens_of(gateway: Any) -> TokensDomain:
    return gateway.app.domains.tokens


async def rpc_error(client: Client, method: str, params: Any = None) -> RpcClientError:
    with pytest.raises(RpcClientError) as info:
        await client.call(method, params)
    return info.value


async def until_closed(client: Client, timeout: float = 2.0) -> tuple[list[dict], int]:
    """Every message until the server closes the connection, and the close code."""
    messages = []
    with trio.fail_after(timeout):
        try:
            while True:
                messages.append(await client.next_message())
        except ConnectionClosed as exc:
            return messages, exc.code


async def still_open(client: Client) -> bool:
    try:
        return (await client.call("system.ping")) == {"pong": True}
    except ConnectionClosed:
        return False


# ------------------------------------------------------------------ accounts


async def test_register_login_and_profile(gateway: Any) -> None:
    email = fresh_email()
    async with connect(gateway.url) as client:
        registered = await client.call("auth.register", {"email": email.upper(), "password": PASSWORD,
                                                         "display_name": "Zoe"})
        grant = await client.call("auth.login", {"email": email, "password": PASSWORD})
    assert set(grant) >= {"access_token", "refresh_token", "token_type", "expires_in", "family_id", "user_id"}
    assert grant["token_type"] == "Bearer" and grant["expires_in"] == 900
    assert grant["user_id"] == registered["user_id"]
    async with connect(gateway.url, grant["access_token"]) as client:
        profile = await client.call("user.profile")
    assert profile["user_id"] == grant["user_id"]
    assert profile["email"] == email and profile["display_name"] == "Zoe" and profile["roles"] == ["user"]
    created = datetime.fromisoformat(profile["created_at"].replace("Z", "+00:00"))
    assert abs(created.timestamp() - time.time()) < 60


async def test_register_checks_its_input(gateway: Any) -> None:
    email = fresh_email()
    async with connect(gateway.url) as client:
        await client.call("auth.register", {"email": email, "password": PASSWORD})
        dup = await rpc_error(client, "auth.register", {"email": f"  {email.upper()} ", "password": PASSWORD})
        assert dup.code == CONFLICT
        bad = await rpc_error(client, "auth.register", {"email": "nope", "password": PASSWORD})
        assert bad.code == INVALID_PARAMS and bad.data["errors"][0]["field"] == "email"
        short = await rpc_error(client, "auth.register", {"email": fresh_email(), "password": "1234567"})
        assert short.code == INVALID_PARAMS and short.data["errors"][0]["field"] == "password"
        missing = await rpc_error(client, "auth.register", {"email": fresh_email()})
        assert missing.code == INVALID_PARAMS


async def test_bad_credentials_answer_alike(gateway: Any) -> None:
    email = fresh_email()
    await create_user(gateway.app.services, email)
    async with connect(gateway.url) as client:
        wrong = await rpc_error(client, "auth.login", {"email": email, "password": "wrong password"})
        unknown = await rpc_error(client, "auth.login", {"email": fresh_email(), "password": PASSWORD})
    assert wrong.code == unknown.code == INVALID_CREDENTIALS
    assert (wrong.message, wrong.data) == (unknown.message, unknown.data)


async def test_repeated_failures_are_throttled(gateway: Any) -> None:
    email = fresh_email()
    await create_user(gateway.app.services, email)
    async with connect(gateway.url) as client:
        for _ in range(5):
            assert (await rpc_error(client, "auth.login", {"email": email, "password": "nope"})).code \
                == INVALID_CREDENTIALS
        assert (await rpc_error(client, "auth.login", {"email": email, "password": PASSWORD})).code == -32006
        tokens_of(gateway).clock.advance(31)
        assert (await client.call("auth.login", {"email": email, "password": PASSWORD}))["user_id"]


# ------------------------------------------------------------- authentication


async def test_user_methods_need_authentication(gateway: Any) -> None:
    async with connect(gateway.url) as client:
        for method, params in [("user.profile", None), ("auth.logout", None),
                               ("auth.revoke_family", {"family_id": "f_x"})]:
            err = await rpc_error(client, method, params)
            assert err.code == AUTH_REQUIRED and err.data is None


async def test_authenticate_sets_the_connection_principal(gateway: Any) -> None:
    user = await new_user(gateway)
    async with connect(gateway.url) as client:
        result = await client.call("auth.authenticate", {"access_token": user["access_token"]})
        assert result["user_id"] == user["user_id"] and result["roles"] == ["user"]
        expires = datetime.fromisoformat(result["expires_at"].replace("Z", "+00:00")).timestamp()
        assert 880 < expires - time.time() <= 905
        assert (await client.call("user.profile"))["email"] == user["email"]


async def test_admin_methods_need_the_admin_role(gateway: Any) -> None:
    item = {"id": "m1", "title": "Heat", "type": "movie", "year": 1995}
    user, admin = await new_user(gateway), await new_user(gateway, admin=True)
    async with connect(gateway.url, user["access_token"]) as client:
        err = await rpc_error(client, "content.upsert", {"items": [item]})
        assert err.code == PERMISSION_DENIED
    async with connect(gateway.url, admin["access_token"]) as client:
        assert await client.call("content.upsert", {"items": [item]}) == {"upserted": 1}
    async with connect(gateway.url) as client:
        assert (await rpc_error(client, "content.upsert", {"items": [item]})).code == AUTH_REQUIRED


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def claims(**changes: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {"iss": ISSUER, "aud": AUDIENCE, "sub": "u_someone", "iat": now, "exp": now + 600,
            "jti": "j1", "fam": "f_someone", "roles": ["user", "admin"]}
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def bad_tokens(good: str) -> dict[str, str]:
    header, payload, signature = good.split(".")
    tampered = orjson.loads(base64.urlsafe_b64decode(payload + "=="))
    tampered["roles"] = ["user", "admin"]
    none_header = b64(orjson.dumps({"alg": "none", "typ": "JWT"}))
    return {
        "alg none": f"{none_header}.{b64(orjson.dumps(claims()))}.",
        "forged signature": jwt.encode(claims(), b"y" * 48, algorithm="HS256"),
        "wrong audience": jwt.encode(claims(aud="someone-else"), KEY, algorithm="HS256"),
        "wrong issuer": jwt.encode(claims(iss="evil"), KEY, algorithm="HS256"),
        "expired": jwt.encode(claims(iat=int(time.time()) - 7200, exp=int(time.time()) - 3600), KEY,
                              algorithm="HS256"),
        "other algorithm": jwt.encode(claims(), KEY, algorithm="HS512"),
        "missing family": jwt.encode(claims(fam=None), KEY, algorithm="HS256"),
        "tampered payload": f"{header}.{b64(orjson.dumps(tampered))}.{signature}",
        "garbage": "not.a.token",
        "refresh token as access token": "A" * 43,
    }


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
async def test_bad_tokens_of_every_kind_are_refused_without_detail(gateway: Any) -> None:
    user = await new_user(gateway)
    # The control: a hand-made token with the right key passes.
    async with connect(gateway.url) as client:
        made = jwt.encode(claims(sub=user["user_id"]), KEY, algorithm="HS256")
        assert (await client.call("auth.authenticate", {"access_token": made}))["user_id"] == user["user_id"]
    answers = set()
    for kind, token in bad_tokens(user["access_token"]).items():
        async with connect(gateway.url) as client:
            err = await rpc_error(client, "auth.authenticate", {"access_token": token})
            assert err.code == AUTH_REQUIRED, kind
            answers.add((err.message, err.data))
            # The connection stays anonymous.
            assert (await rpc_error(client, "user.profile")).code == AUTH_REQUIRED
        with pytest.raises(ConnectionRejected) as info:
            async with connect(gateway.url, token):
                pass
        assert info.value.status_code == 401, kind
    assert len(answers) == 1 and next(iter(answers))[1] is None


async def test_handshake_needs_a_bearer_token(gateway: Any) -> None:
    user = await new_user(gateway)
    for header in [f"Basic {user['access_token']}", "Bearer", f"Token {user['access_token']}"]:
        with pytest.raises(ConnectionRejected) as info:
            async with connect(gateway.url, headers=[("Authorization", header)]):
                pass
        assert info.value.status_code == 401
    async with connect(gateway.url, headers=[("authorization", f"bearer {user['access_token']}")]) as client:
        assert (await client.call("user.profile"))["user_id"] == user["user_id"]


async def test_expiry_follows_the_domain_clock(gateway: Any) -> None:
    domain = tokens_of(gateway)
    user = await new_user(gateway)
    async with connect(gateway.url, user["access_token"]) as client:
        assert await client.call("user.profile")
        domain.clock.advance(900 + domain.guard.state.codec.leeway + 1)
        assert (await rpc_error(client, "user.profile")).code == AUTH_REQUIRED
        err = await rpc_error(client, "auth.authenticate", {"access_token": user["access_token"]})
        assert err.code == AUTH_REQUIRED
        # A refresh gives a token valid on the moved clock; re-authenticating carries on.
        fresh = await client.call("auth.refresh", {"refresh_token": user["refresh_token"]})
        await client.call("auth.authenticate", {"access_token": fresh["access_token"]})
        assert (await client.call("user.profile"))["user_id"] == user["user_id"]
    with pytest.raises(ConnectionRejected):
        async with connect(gateway.url, user["access_token"]):
            pass


# ------------------------------------------------------------ refresh and reuse


async def test_refresh_rotates_and_reuse_revokes_everywhere(gateway: Any) -> None:
    user = await new_user(gateway)
    async with connect(gateway.url) as client:
        first = await client.call("auth.refresh", {"refresh_token": user["refresh_token"]})
        second = await client.call("auth.refresh", {"refresh_token": first["refresh_token"]})
    assert second["family_id"] == user["family_id"] and second["user_id"] == user["user_id"]
    assert second["refresh_token"] != user["refresh_token"] and second["access_token"] != user["access_token"]
    # The login's token is older than the direct predecessor of the newest: no grace.
    async with connect(gateway.url, second["access_token"]) as victim, connect(gateway.url) as thief:
        assert await victim.call("user.profile")
        err = await rpc_error(thief, "auth.refresh", {"refresh_token": user["refresh_token"]})
        assert err.code == REUSE
        messages, code = await until_closed(victim)
    assert code == 4401
    assert messages == [{"jsonrpc": "2.0", "method": "auth.revoked",
                         "params": {"family_id": user["family_id"], "reason": "refresh_token_reuse"}}]
    async with connect(gateway.url) as client:
        err = await rpc_error(client, "auth.refresh", {"refresh_token": second["refresh_token"]})
        assert err.code == TOKEN_REVOKED
        err = await rpc_error(client, "auth.authenticate", {"access_token": second["access_token"]})
        assert err.code == TOKEN_REVOKED


# -------------------------------------------------------------- revocation


async def test_logout_answers_first_then_notifies_and_closes(gateway: Any) -> None:
    user = await new_user(gateway)
    other_login = await login(gateway.url, user["email"])  # another family of the same user
    async with connect(gateway.url, user["access_token"]) as first, \
            connect(gateway.url, user["access_token"]) as second, \
            connect(gateway.url, other_login["access_token"]) as other:
        assert await first.call("auth.logout") == {"revoked": True}
        messages, code = await until_closed(first)
        assert code == 4401
        assert messages == [{"jsonrpc": "2.0", "method": "auth.revoked",
                             "params": {"family_id": user["family_id"], "reason": "logout"}}]
        messages, code = await until_closed(second)
        assert code == 4401 and messages[0]["method"] == "auth.revoked"
        assert await other.call("user.profile")
    with pytest.raises(ConnectionRejected) as info:
        async with connect(gateway.url, user["access_token"]):
            pass
    assert info.value.status_code == 401
    async with connect(gateway.url) as client:
        err = await rpc_error(client, "auth.authenticate", {"access_token": user["access_token"]})
        assert err.code == TOKEN_REVOKED
        err = await rpc_error(client, "auth.refresh", {"refresh_token": user["refresh_token"]})
        assert err.code == TOKEN_REVOKED


async def test_logout_answer_comes_before_the_close_even_when_pipelined(gateway: Any) -> None:
    user = await new_user(gateway)
    async with connect(gateway.url, user["access_token"]) as client:
        frames = [{"jsonrpc": "2.0", "id": 1, "method": "auth.logout"},
                  {"jsonrpc": "2.0", "id": 2, "method": "system.ping"}]
        for frame in frames:
            await client.send_raw(orjson.dumps(frame))
        messages, code = await until_closed(client)
    assert code == 4401
    ids = [m.get("id") for m in messages]
    assert 1 in ids and messages[-1]["method"] == "auth.revoked"
    assert ids.index(1) < len(messages) - 1


async def test_revoke_family_by_its_owner(gateway: Any) -> None:
    user = await new_user(gateway)
    phone = await login(gateway.url, user["email"])
    async with connect(gateway.url, user["access_token"]) as laptop, \
            connect(gateway.url, phone["access_token"]) as on_phone:
        assert await laptop.call("auth.revoke_family", {"family_id": phone["family_id"]}) == {"revoked": True}
        messages, code = await until_closed(on_phone)
        assert code == 4401
        assert messages[-1]["params"] == {"family_id": phone["family_id"], "reason": "revoked_by_owner"}
        assert await still_open(laptop)
        # Idempotent.
        assert await laptop.call("auth.revoke_family", {"family_id": phone["family_id"]}) == {"revoked": True}


async def test_revoke_family_by_an_admin(gateway: Any) -> None:
    user, admin = await new_user(gateway), await new_user(gateway, admin=True)
    async with connect(gateway.url, user["access_token"]) as victim, \
            connect(gateway.url, admin["access_token"]) as root:
        assert await root.call("auth.revoke_family", {"family_id": user["family_id"]}) == {"revoked": True}
        messages, code = await until_closed(victim)
        assert code == 4401 and messages[-1]["params"]["reason"] == "revoked_by_admin"
        assert await still_open(root)
        err = await rpc_error(root, "auth.revoke_family", {"family_id": "f_does_not_exist"})
        assert err.code == NOT_FOUND


async def test_revoke_family_by_a_stranger_is_refused(gateway: Any) -> None:
    user, stranger = await new_user(gateway), await new_user(gateway)
    async with connect(gateway.url, user["access_token"]) as owner, \
            connect(gateway.url, stranger["access_token"]) as other:
        err = await rpc_error(other, "auth.revoke_family", {"family_id": user["family_id"]})
        assert err.code == PERMISSION_DENIED
        # Unknown families look the same to a stranger.
        err = await rpc_error(other, "auth.revoke_family", {"family_id": "f_does_not_exist"})
        assert err.code == PERMISSION_DENIED
        assert await owner.call("user.profile")
    async with connect(gateway.url) as client:
        assert await client.call("auth.refresh", {"refresh_token": user["refresh_token"]})


async def test_the_revoked_set_forgets_what_no_longer_matters(gateway: Any) -> None:
    domain = tokens_of(gateway)
    before = len(domain.guard.state.revoked)
    users = [await new_user(gateway) for _ in range(3)]
    for user in users:
        async with connect(gateway.url, user["access_token"]) as client:
            await client.call("auth.logout")
    assert len(domain.guard.state.revoked) == before + 3
    domain.clock.advance(900 + domain.settings.revocation_skew + 1)
    domain.guard.state.revoked.prune()
    assert len(domain.guard.state.revoked) == 0
    # Still refused: the access tokens expired meanwhile, the refresh tokens are revoked in storage.
    async with connect(gateway.url) as client:
        for user in users:
            err = await rpc_error(client, "auth.authenticate", {"access_token": user["access_token"]})
            assert err.code == AUTH_REQUIRED
            err = await rpc_error(client, "auth.refresh", {"refresh_token": user["refresh_token"]})
            assert err.code == TOKEN_REVOKED


async def test_rpc_discover_describes_the_auth_methods(gateway: Any) -> None:
    async with connect(gateway.url) as client:
        doc = await client.call("rpc.discover")
    access = {m["name"]: m["x-access"] for m in doc["methods"]}
    assert access["auth.login"] == access["auth.register"] == access["auth.refresh"] == "anyone"
    assert access["auth.authenticate"] == "anyone"
    assert access["auth.logout"] == access["auth.revoke_family"] == access["user.profile"] == "user"


# ----------------------------------------------------------- short secret


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
async def test_a_short_jwt_secret_still_works(nursery: trio.Nursery, tmp_path: Any) -> None:
    app = App(attrs.evolve(make_config(tmp_path), jwt_secret="secret"))
    ws_port, _ = await nursery.start(app.run)
    url = f"ws://127.0.0.1:{ws_port}/v1"
    try:
        email = fresh_email()
        await create_user(app.services, email)
        grant = await login(url, email)
        async with connect(url, grant["access_token"]) as client:
            assert (await client.call("user.profile"))["email"] == email
        # The key is derived, not the secret itself: a token signed with "secret" is refused.
        async with connect(url) as client:
            err = await rpc_error(client, "auth.authenticate",
                                  {"access_token": jwt.encode(claims(), "secret", algorithm="HS256")})
            assert err.code == AUTH_REQUIRED
    finally:
        app.request_shutdown()


async def test_metrics_show_the_revoked_set(gateway: Any) -> None:
    from tests.support import http_get

    user = await new_user(gateway)
    async with connect(gateway.url, user["access_token"]) as client:
        await client.call("auth.logout")
    status, body = await http_get(gateway.admin + "/metrics")
    assert status == 200
    assert b'mg_tokens_state{what="revoked_families"} 1.0' in body
