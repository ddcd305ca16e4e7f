"""Refresh-token reuse grace: how a refresh answers the same grant again without the
database ever holding a refresh token (or an access token) in clear.

When token P is rotated into successor S with access token A, the row of S keeps
``seal(P, S, A)``: S and A encrypted under a key only the holder of P can derive.
Presented again within the grace interval, P opens the seal and gets exactly the grant
it got the first time. The database holds SHA-256(P) as P's row key, never P, so a
copy of the database opens nothing; and the seal is wiped when S is rotated in turn
(P is then no longer the direct predecessor of the newest token) and by housekeeping
once the interval has passed, so a stolen spent token together with a database copy
opens nothing either after that.

The cipher is a one-time pad from SHAKE-256, keyed by P under a label of its own (the
row key uses SHA-256, so one does not reveal the other). Each key seals exactly one
message, so no nonce is needed; 256 random bits of P make the pad unguessable. What is
opened is checked: S must hash to the successor row's key, and A must pass the access
token check like any other.
"""

from __future__ import annotations

import base64
import hashlib

from actors.tokens.crypto import hash_refresh_token

__all__ = ["seal", "unseal"]

_LABEL = b"media-gateway refresh grace v1\x00"


def _pad(predecessor: str, length: int) -> bytes:
    return hashlib.shake_256(_LABEL + predecessor.encode()).digest(length)


def _xor(data: bytes, pad: bytes) -> bytes:
    return (int.from_bytes(data, "big") ^ int.from_bytes(pad, "big")).to_bytes(len(data), "big")


def seal(predecessor: str, refresh_token: str, access_token: str) -> str:
    """The successor pair, openable only with `predecessor` (ASCII, for a TEXT column)."""
    # A refresh token is URL-safe base64 and holds no ".", so the first one splits.
    plain = f"{refresh_token}.{access_token}".encode()
    return base64.b64encode(_xor(plain, _pad(predecessor, len(plain)))).decode()


def unseal(predecessor: str, sealed: str, successor_hash: str) -> tuple[str, str] | None:
    """The (refresh token, access token) sealed under `predecessor`, or None when it
    does not open (another key, a damaged value) to a refresh token of `successor_hash`."""
    try:
        data = base64.b64decode(sealed, validate=True)
        refresh_token, dot, access_token = _xor(data, _pad(predecessor, len(data))).decode().partition(".")
    except (ValueError, UnicodeDecodeError):
        return None
    if not dot or hash_refresh_token(refresh_token) != successor_hash:
        return None
    return refresh_token, access_token
