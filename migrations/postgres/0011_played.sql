-- Played state: playback_positions.played is what the user sees as "watched". It is
-- set when an item is finished (completed) or marked played (playback.mark_played),
-- stays set while the item is replayed, and is cleared only by marking it unplayed.
-- Position writes never clear it (their upsert keeps the stored value).
ALTER TABLE playback_positions ADD COLUMN played SMALLINT NOT NULL DEFAULT 0 CHECK (played IN (0, 1));
UPDATE playback_positions SET played = completed;
