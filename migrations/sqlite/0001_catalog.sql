-- Catalog: content items and spell corrections.
--
-- Conventions for every migration (both dialects): times are BIGINT epoch
-- milliseconds, booleans SMALLINT 0/1, lists TEXT holding a JSON array. Columns used
-- in ORDER BY or keyset comparisons are NOT NULL (the dialects order NULLs
-- differently). On PostgreSQL they are also COLLATE "C", so both dialects order
-- text by code point (SQLite's default, BINARY).

-- content: one row per movie, series or episode. genres and platforms are JSON
-- arrays of strings. Listing pages by keyset on (popularity DESC, id), (title, id)
-- and (year, id); each has its index.
CREATE TABLE content (
    id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    type TEXT NOT NULL CHECK (type IN ('movie', 'series', 'episode')),
    year INTEGER NOT NULL,
    genres TEXT NOT NULL DEFAULT '[]',
    platforms TEXT NOT NULL DEFAULT '[]',
    rating DOUBLE PRECISION NOT NULL DEFAULT 0 CHECK (rating >= 0 AND rating <= 10),
    popularity DOUBLE PRECISION NOT NULL DEFAULT 0,
    duration_ms BIGINT NOT NULL DEFAULT 0,
    updated_at BIGINT NOT NULL
);
CREATE INDEX content_popularity_idx ON content (popularity DESC, id);
CREATE INDEX content_title_idx ON content (title, id);
CREATE INDEX content_year_idx ON content (year, id);

-- spell_corrections: admin-provided query corrections, misspelled -> corrected,
-- both stored as the search normaliser produces them (lowercase).
CREATE TABLE spell_corrections (
    misspelled TEXT PRIMARY KEY,
    corrected TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
