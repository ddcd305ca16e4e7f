-- Refresh-token reuse grace (--refresh-reuse-interval): presented again within the
-- interval, the direct predecessor of a family's newest refresh token answers the
-- grant it got the first time.
--
-- refresh_tokens.sealed: the grant a token was issued in (the token itself and its
-- access token), encrypted under a key derived from its parent token, which the
-- database never holds (actors/tokens/grace.py). NULL once the token is spent, and
-- wiped once the interval has passed. The parent index finds a token's successor; the
-- partial index serves the wipe.
ALTER TABLE refresh_tokens ADD COLUMN sealed TEXT;
CREATE INDEX refresh_tokens_parent_idx ON refresh_tokens (parent_hash);
CREATE INDEX refresh_tokens_sealed_idx ON refresh_tokens (issued_at) WHERE sealed IS NOT NULL;
