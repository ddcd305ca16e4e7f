-- Playback: sessions and resume positions.
--
-- No foreign keys here on purpose: positions are written behind in batches, and
-- one row naming a since-deleted user or item must not fail the whole batch.

-- playback_sessions: one per playback.start. ended_at is NULL while the session
-- is open; the partial index finds open sessions gone quiet (last_seen_at).
CREATE TABLE playback_sessions (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    content_id TEXT NOT NULL,
    device_id TEXT NOT NULL DEFAULT '',
    position_ms BIGINT NOT NULL DEFAULT 0,
    started_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    ended_at BIGINT
);
CREATE INDEX playback_sessions_user_idx ON playback_sessions (user_id, started_at);
CREATE INDEX playback_sessions_open_idx ON playback_sessions (last_seen_at)
    WHERE ended_at IS NULL;

-- playback_positions: the last position per user and item, upserted in batches
-- (write-behind). "Continue watching" pages by keyset on (updated_at DESC,
-- content_id) for one user, skipping completed items.
CREATE TABLE playback_positions (
    user_id TEXT NOT NULL,
    content_id TEXT COLLATE "C" NOT NULL,
    position_ms BIGINT NOT NULL,
    duration_ms BIGINT NOT NULL DEFAULT 0,
    completed SMALLINT NOT NULL DEFAULT 0 CHECK (completed IN (0, 1)),
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, content_id)
);
CREATE INDEX playback_positions_recent_idx
    ON playback_positions (user_id, updated_at DESC, content_id);
