"""Experiment rows in storage: definitions, recorded assignments, exposure counts.

A definition is stored with its `claims` (see `buckets`) and a `revision` bumped on
every change: updates are optimistic (`UPDATE ... WHERE revision = $n`), so two nodes
changing one experiment at once cannot lose either change's claims.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import attrs
import orjson

from actors.experiments.model import Experiment, Variant
from actors.storage import Queries

__all__ = [
    "StoredExperiment",
    "exposure_counts",
    "get",
    "get_all",
    "insert",
    "record",
    "recorded_variant",
    "update",
]

COLUMNS = "id, name, variants, active, coverage, seed, created_at, updated_at, claims, revision"

_INSERT = f"""
INSERT INTO experiments ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
"""

_UPDATE = """
UPDATE experiments
SET variants = $3, active = $4, coverage = $5, updated_at = $6, claims = $7, revision = $8
WHERE id = $1 AND revision = $2
"""

# The first answer wins: a user assigned on two nodes at once keeps the earlier row.
_RECORD = """
INSERT INTO experiment_assignments (experiment_id, user_id, variant, in_experiment, assigned_at)
VALUES ($1, $2, $3, 1, $4)
ON CONFLICT (experiment_id, user_id) DO NOTHING
"""

_ADD_EXPOSURES = """
INSERT INTO experiment_exposures (experiment_id, variant, count) VALUES ($1, $2, $3)
ON CONFLICT (experiment_id, variant)
DO UPDATE SET count = experiment_exposures.count + excluded.count
"""


@attrs.frozen
class StoredExperiment:
    experiment: Experiment
    claims: str  # JSON runs, see buckets.encode_claims
    revision: int


def _ms(seconds: float) -> int:
    return int(round(seconds * 1000))


def _from_row(row: dict[str, Any]) -> StoredExperiment:
    experiment = Experiment(
        id=row["id"],
        name=row["name"],
        variants=tuple(Variant(v["name"], float(v["weight"])) for v in orjson.loads(row["variants"])),
        active=bool(row["active"]),
        coverage=float(row["coverage"]),
        seed=row["seed"],
        created_at=int(row["created_at"]) / 1000,
        updated_at=int(row["updated_at"]) / 1000,
    )
    return StoredExperiment(experiment, row["claims"], int(row["revision"]))


def _variants_json(experiment: Experiment) -> str:
    return orjson.dumps([{"name": v.name, "weight": v.weight} for v in experiment.variants]).decode()


async def insert(db: Queries, stored: StoredExperiment) -> None:
    """Raises `UniqueViolation` when the id exists."""
    e = stored.experiment
    await db.execute(
        _INSERT, e.id, e.name, _variants_json(e), int(e.active), float(e.coverage), e.seed,
        _ms(e.created_at), _ms(e.updated_at), stored.claims, stored.revision,
    )


async def update(db: Queries, stored: StoredExperiment, expected_revision: int) -> bool:
    """Write `stored` if the row is still at `expected_revision`; False if it moved on."""
    e = stored.experiment
    changed = await db.execute(
        _UPDATE, e.id, expected_revision, _variants_json(e), int(e.active), float(e.coverage),
        _ms(e.updated_at), stored.claims, stored.revision,
    )
    return changed == 1


async def get(db: Queries, experiment_id: str) -> StoredExperiment | None:
    row = await db.fetchrow(f"SELECT {COLUMNS} FROM experiments WHERE id = $1", experiment_id)
    return None if row is None else _from_row(row)


async def get_all(db: Queries) -> list[StoredExperiment]:
    rows = await db.fetch(f"SELECT {COLUMNS} FROM experiments ORDER BY created_at, id")
    return [_from_row(r) for r in rows]


async def recorded_variant(db: Queries, experiment_id: str, user_id: str) -> str | None:
    """The variant recorded for the user (only assignments inside the experiment are)."""
    return await db.fetchval(
        "SELECT variant FROM experiment_assignments WHERE experiment_id = $1 AND user_id = $2"
        " AND in_experiment = 1",
        experiment_id, user_id,
    )


async def record(
    db: Queries,
    assignments: Iterable[Sequence[tuple[str, str, str, int]]],
    exposures: Iterable[tuple[str, str, int]],
) -> None:
    """Add `(experiment_id, user_id, variant, assigned_at_ms)` assignments (an existing
    one is kept), given in runs written one statement each (rows alike but for the
    user id make the cheapest batch for SQLite), and `(experiment_id, variant, delta)`
    exposure counts."""
    for rows in assignments:
        if rows:
            await db.executemany(_RECORD, rows)
    deltas = [d for d in exposures if d[2]]
    if deltas:
        await db.executemany(_ADD_EXPOSURES, deltas)


async def exposure_counts(db: Queries, experiment_id: str) -> dict[str, int]:
    rows = await db.fetch(
        "SELECT variant, count FROM experiment_exposures WHERE experiment_id = $1", experiment_id
    )
    return {r["variant"]: int(r["count"]) for r in rows}
