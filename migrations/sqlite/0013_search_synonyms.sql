-- search_synonyms: the synonym groups of search.synonyms.set, replaced whole by each
-- call (delete and insert in one transaction). One row per group: position keeps the
-- order given, phrases is a JSON array of the group's phrases as sent, one_way is 1
-- when the first phrase stands for the others but not back. Read whole at start and
-- when another node announces a change; no index beyond the key.
CREATE TABLE search_synonyms (
    position INTEGER PRIMARY KEY,
    phrases TEXT NOT NULL,
    one_way SMALLINT NOT NULL DEFAULT 0 CHECK (one_way IN (0, 1)),
    created_at BIGINT NOT NULL
);
