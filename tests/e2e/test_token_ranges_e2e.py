"""Correctly signed access tokens with out-of-range times, over real sockets: -32001 from
`auth.authenticate` (it was -32603: the far `exp` overflowed the answer's date) and 401
at the handshake, and the connection lives on."""

from __future__ import annotations

import time
from typing import Any

import jwt
import pytest
from mgclient import HandshakeRejected as ConnectionRejected

from mgclient import RpcError as RpcClientError
from tests.conftest import RunningApp
from tests.support import connect

KEY = b"x" * 48  # the conftest gateway's JWT secret


def signed(**claims: Any) -> str:
    now = int(time.time())
    payload = {"iss": "media-gateway", "aud": "media-gateway-clients", "sub": "u_1", "iat": now,
               "exp": now + 900, "jti": "j", "fam": "f_1", "roles": ["user", "admin"], **claims}
    return jwt.encode(payload, KEY, algorithm="HS256")


BAD = {
    "exp 2**63": {"exp": 2**63},
    "exp in ten years": {"exp": int(time.time()) + 10 * 365 * 86400},
    "iat before the epoch": {"iat": -(2**63)},
    "nbf far ahead": {"nbf": 2**63},
    # pyjwt's own nbf check is off (the codec checks times against its clock): not yet
    # valid is refused all the same, past the 5 s leeway. (Made when the module is
    # collected: a day ahead, so still ahead whenever the test runs.)
    "nbf tomorrow": {"nbf": int(time.time()) + 86_400},
}


@pytest.mark.parametrize("claims", BAD.values(), ids=BAD.keys())
async def test_signed_tokens_with_times_out_of_range_are_invalid(gateway: RunningApp, claims: dict) -> None:
    token = signed(**claims)
    async with connect(gateway.url) as client:
        with pytest.raises(RpcClientError) as info:
            await client.call("auth.authenticate", {"access_token": token})
        assert (info.value.code, info.value.message) == (-32001, "Invalid or expired token")
        assert await client.call("system.ping") == {"pong": True}
        # The control: the same forger's in-range token is accepted.
        assert (await client.call("auth.authenticate", {"access_token": signed()}))["user_id"] == "u_1"
    with pytest.raises(ConnectionRejected) as rejected:
        async with connect(gateway.url, token):
            pass
    assert rejected.value.status_code == 401
