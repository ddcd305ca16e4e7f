-- Keyset listings compare row values, (sort_key, id) < ($1, $2), which needs both
-- columns of an index to run in the same direction. Popularity and year list
-- newest/most popular first with ties broken by id descending; title ascending.
DROP INDEX content_popularity_idx;
DROP INDEX content_year_idx;
CREATE INDEX content_popularity_idx ON content (popularity DESC, id DESC);
CREATE INDEX content_year_idx ON content (year DESC, id DESC);
