-- Experiments: definitions, sticky assignments and exposure counts.

-- experiments: variants is a JSON array of {"name", "weight"}; names never change
-- after creation (updates change weights only). seed salts the assignment hash.
-- coverage is the share of users in the experiment, 0..1. Listed by (created_at, id).
CREATE TABLE experiments (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    variants TEXT NOT NULL,
    active SMALLINT NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    coverage DOUBLE PRECISION NOT NULL DEFAULT 1 CHECK (coverage >= 0 AND coverage <= 1),
    seed TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX experiments_created_idx ON experiments (created_at, id);

-- experiment_assignments: the first answer given to a user, kept so it stays the
-- same after weights change. variant is NULL when the user is outside coverage
-- (in_experiment = 0).
CREATE TABLE experiment_assignments (
    experiment_id TEXT NOT NULL REFERENCES experiments (id) ON DELETE CASCADE,
    user_id TEXT NOT NULL,
    variant TEXT,
    in_experiment SMALLINT NOT NULL CHECK (in_experiment IN (0, 1)),
    assigned_at BIGINT NOT NULL,
    PRIMARY KEY (experiment_id, user_id)
);

-- experiment_exposures: how many assignments each variant received, for the
-- sample-ratio-mismatch test. Incremented in batches with
-- INSERT ... ON CONFLICT (experiment_id, variant) DO UPDATE SET count = count + excluded.count.
CREATE TABLE experiment_exposures (
    experiment_id TEXT NOT NULL REFERENCES experiments (id) ON DELETE CASCADE,
    variant TEXT NOT NULL,
    count BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (experiment_id, variant)
);
