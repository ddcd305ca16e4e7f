"""The check on every authenticated request: decode the access token, look its family
up in the revoked set. Memory only, no I/O."""

from __future__ import annotations

from actors.errors import AuthRequired, TokenRevoked
from actors.tokens.crypto import AccessClaims, JwtCodec
from actors.tokens.revoked import RevokedFamilies
from actors.tokens.settings import Clock

EXPIRED = "Invalid or expired token"


class TokenGuard:
    """The codec and the revoked-family set, shared by the tokens actor (which alone
    adds to the set) and the protocol layer (which reads it on every request)."""

    __slots__ = ("codec", "revoked", "clock")

    def __init__(self, codec: JwtCodec, revoked: RevokedFamilies, clock: Clock) -> None:
        self.codec = codec
        self.revoked = revoked
        self.clock = clock

    def check(self, token: object) -> AccessClaims:
        """The claims of a valid, unrevoked access token; else `AuthRequired` (bad,
        forged or expired, without saying which) or `TokenRevoked`."""
        claims = self.codec.decode(token)
        if claims.fam in self.revoked:
            raise TokenRevoked()
        return claims

    def still_valid(self, claims: AccessClaims) -> None:
        """For a connection authenticated earlier: its token may have expired or its
        family been revoked since."""
        if claims.fam in self.revoked:
            raise TokenRevoked()
        if claims.exp <= self.clock() - self.codec.leeway:
            raise AuthRequired(EXPIRED)
