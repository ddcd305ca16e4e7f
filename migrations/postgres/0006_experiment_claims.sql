-- Experiments: what lets every node keep assignments sticky without a read per call.

-- claims: JSON runs [[first_bucket, end_bucket, variant_mask], ...] of the variants
-- that any definition of the experiment gave each of the 10,000 hash buckets while it
-- was active. Where a bucket's claims hold only today's answer, the hash alone gives
-- every user there their recorded variant; elsewhere the recorded assignment is read.
-- revision: bumped on every change, for optimistic updates and for ignoring stale
-- change notices.
ALTER TABLE experiments ADD COLUMN claims TEXT NOT NULL DEFAULT '[]';
ALTER TABLE experiments ADD COLUMN revision BIGINT NOT NULL DEFAULT 1;
