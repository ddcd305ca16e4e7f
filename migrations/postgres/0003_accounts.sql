-- Accounts: users, failed logins, refresh-token families and tokens.

-- users: email is stored normalised (trimmed, lowercase) by the caller, so the
-- unique constraint is the "already registered" check. roles is a JSON array.
CREATE TABLE users (
    id TEXT PRIMARY KEY,
    email TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    display_name TEXT NOT NULL DEFAULT '',
    roles TEXT NOT NULL DEFAULT '["user"]',
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- login_failures: consecutive failed logins per email, for throttling; the row is
-- deleted on a successful login. locked_until is 0 when not locked.
CREATE TABLE login_failures (
    email TEXT PRIMARY KEY,
    failures INTEGER NOT NULL,
    first_failed_at BIGINT NOT NULL,
    locked_until BIGINT NOT NULL DEFAULT 0
);

-- token_families: one per login; every refresh token of the chain belongs to it.
-- Revoking the family (logout, reuse detected, admin) sets revoked_at and ends
-- every token of it. expires_at is the family's absolute lifetime. The partial
-- index serves loading the revoked set at start-up.
CREATE TABLE token_families (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT,
    revoke_reason TEXT
);
CREATE INDEX token_families_user_idx ON token_families (user_id);
CREATE INDEX token_families_revoked_idx ON token_families (revoked_at)
    WHERE revoked_at IS NOT NULL;

-- refresh_tokens: stored by hash, never in clear. parent_hash links the rotation
-- chain; used_at is set when the token is exchanged, and a second use of a used
-- token is reuse (the family is revoked). idle_expires_at ends a token unused too
-- long, expires_at bounds it absolutely.
CREATE TABLE refresh_tokens (
    token_hash TEXT PRIMARY KEY,
    family_id TEXT NOT NULL REFERENCES token_families (id) ON DELETE CASCADE,
    parent_hash TEXT,
    issued_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    idle_expires_at BIGINT NOT NULL,
    used_at BIGINT
);
CREATE INDEX refresh_tokens_family_idx ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_expires_idx ON refresh_tokens (expires_at);
