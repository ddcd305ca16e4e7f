-- Playback: a session remembers its item's duration, so that any node (or this one
-- after a restart) can take over an open session without asking the catalog.
-- 0 means unknown (rows from before this migration): any position >= 0 is accepted.
ALTER TABLE playback_sessions ADD COLUMN duration_ms BIGINT NOT NULL DEFAULT 0;
