"""Accounts and tokens.

`start(env, settings, jwt_secret)` is the domain's entry (its actor's child spec and
its facade, `TokensDomain`). Pure parts (no I/O): `crypto` (Argon2id hashing,
e-mail/password validation, HS256 access tokens, refresh token hashing), `revoked`
(the bounded revoked-family set), `guard` (the per-request check: decode plus revoked
lookup). With the KV: `throttle` (the login lock). With storage: `store` (the SQL),
`accounts` (register, login, refresh rotation, profiles; `create_user` for the CLI),
and `actor` (the tokens actor, which owns revocations and spreads them between nodes).

Argon2 hashing is CPU-bound (about 0.1 s with the default parameters): it runs in
worker threads (argon2-cffi releases the GIL), bounded by `accounts.HashPool`.
"""

from actors.tokens.domain import TokensDomain, start

__all__ = ["TokensDomain", "start"]
