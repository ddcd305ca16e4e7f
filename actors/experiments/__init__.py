"""A/B experiments: GrowthBook-style deterministic assignment, sticky first answers,
exposure counts and the sample ratio mismatch test.

`start(env)` is the domain's entry (its actor's child spec and its facade,
`ExperimentsDomain`, whose `assign` is the one assignment path). `hashing` and
`buckets` are the pure GrowthBook pieces, `model` the definitions and their
validation, `table` the in-memory answer table, `actor` its owner, `store` the SQL.
"""

from actors.experiments.domain import ExperimentsDomain, ExperimentsSettings, start

__all__ = ["ExperimentsDomain", "ExperimentsSettings", "start"]
