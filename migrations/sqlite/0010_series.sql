-- Series: an episode names its series (another content row of type 'series') and its
-- season and episode numbers. Items outside a series keep series_id '' and season,
-- episode 0 (sorted columns are NOT NULL). content.episodes lists one series by
-- (season, episode, id): content_series_idx serves it, and finds a series' episodes
-- when an upsert checks that a series with episodes keeps its type.
ALTER TABLE content ADD COLUMN series_id TEXT NOT NULL DEFAULT '';
ALTER TABLE content ADD COLUMN season INTEGER NOT NULL DEFAULT 0;
ALTER TABLE content ADD COLUMN episode INTEGER NOT NULL DEFAULT 0;
CREATE INDEX content_series_idx ON content (series_id, season, episode, id);
