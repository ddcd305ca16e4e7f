"""Every number in an access token has a range, even when the token is correctly
signed: out of range is an invalid token (`AuthRequired`, -32001), never a crash.
Likewise the revocation time another node publishes."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

import pytest

from actors.errors import AuthRequired
from actors.tokens.actor import TokensActor
from actors.tokens.crypto import JwtCodec
from actors.tokens.guard import TokenGuard
from actors.tokens.revoked import RevokedFamilies
from actors.tokens.settings import TokenSettings

KEY = b"k" * 32
NOW = 1_800_000_000


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def signed(**claims: Any) -> str:
    """A token signed with the right key, holding `claims` over valid defaults
    (None removes one). Written by hand, as a forger holding the key would."""
    payload = {"iss": "media-gateway", "aud": "media-gateway-clients", "sub": "u1", "iat": NOW,
               "exp": NOW + 900, "jti": "j", "fam": "f1", "roles": ["user"], **claims}
    payload = {k: v for k, v in payload.items() if v is not None}
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = f"{header}.{_b64(json.dumps(payload).encode())}"
    return f"{body}.{_b64(hmac.new(KEY, body.encode(), hashlib.sha256).digest())}"


@pytest.fixture
def codec() -> JwtCodec:
    return JwtCodec(KEY, ttl=900, leeway=5, clock=lambda: NOW + 10.0)


def test_valid_bounds_pass(codec: JwtCodec) -> None:
    assert codec.decode(signed()).exp == NOW + 900
    assert codec.decode(signed(iat=NOW + 15, exp=NOW + 915)).iat == NOW + 15  # within the leeway
    assert codec.decode(signed(exp=NOW + 6)).exp == NOW + 6
    assert codec.decode(signed(nbf=NOW)).sub == "u1"


@pytest.mark.parametrize("claims", [
    {"exp": 2**63}, {"exp": 2**64}, {"exp": 10**30}, {"exp": 1e308}, {"exp": -(2**63)},
    {"exp": NOW + 901},  # lives longer than the ttl: would outlive its revocation's memory
    {"exp": NOW + 10 * 365 * 86400},
    {"exp": NOW},  # not after iat
    {"iat": 2**63}, {"iat": -(2**63)}, {"iat": -1, "exp": 800}, {"iat": NOW + 16, "exp": NOW + 916},
    {"nbf": 2**63}, {"nbf": -(10**30)}, {"nbf": NOW + 16}, {"nbf": "soon"}, {"nbf": 1.5}, {"nbf": True},
    {"exp": True}, {"iat": 1.0 * NOW},
])
def test_out_of_range_times_are_an_invalid_token(codec: JwtCodec, claims: dict[str, Any]) -> None:
    with pytest.raises(AuthRequired, match="Invalid or expired token"):
        codec.decode(signed(**claims))


def test_a_published_revocation_time_is_checked_and_held_at_most_at_now() -> None:
    now = float(NOW)
    revoked = RevokedFamilies(900, lambda: now, skew=30)
    guard = TokenGuard(JwtCodec(KEY, clock=lambda: now), revoked, lambda: now)  # type: ignore[arg-type]
    told: list[dict[str, str]] = []
    actor = TokensActor(storage=None, kv=None, guard=guard, accounts=None,  # type: ignore[arg-type]
                        settings=TokenSettings(), node_id="n", on_revoked=lambda f: told.append(dict(f)))

    def publish(**doc: Any) -> None:
        actor._on_message(json.dumps({"reason": "logout", "node": "m", **doc}).encode())

    publish(family_id="far", revoked_at=2**63 - 1)  # would be held for ages
    publish(family_id="huge", revoked_at=10**30)  # a float once decoded: malformed
    publish(family_id="negative", revoked_at=-5)
    publish(family_id="float", revoked_at=1.5)
    publish(family_id="bool", revoked_at=True)
    publish(family_id="ok", revoked_at=NOW * 1000 - 1000)
    assert "far" in revoked and revoked.revoked_at("far") == now
    assert [f for batch in told for f in batch] == ["far", "ok"]
    assert revoked.prune(now + 930) == 2  # both forgotten when they no longer matter
