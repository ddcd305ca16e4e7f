"""Messages of the tokens actor."""

from __future__ import annotations

import attrs

REVOCATIONS_CHANNEL = "tokens.revoked"
"""KV pub/sub channel; each message is JSON {family_id, revoked_at (ms), reason, node}."""


@attrs.frozen
class Revoke:
    """Revoke a family durably, here and on every node. Answers the revocation time
    (ms); `NotFound` if the family does not exist. Idempotent."""

    family_id: str
    reason: str


@attrs.frozen
class Revoked:
    """A revocation already made durable elsewhere (refresh-token reuse, inside the
    rotation's transaction): apply it here and spread it."""

    family_id: str
    revoked_at_ms: int
    reason: str
