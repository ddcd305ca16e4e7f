"""Experiment definitions and the validation of what clients send to make or change
one. Every problem found is reported, each with its field (`variants[2].weight`), in
one `InvalidParams`."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import attrs

from actors.errors import InvalidParams
from actors.experiments.hashing import Range, bucket_ranges
from actors.timefmt import iso_utc

__all__ = [
    "MAX_VARIANTS",
    "MAX_WEIGHT",
    "Experiment",
    "Variant",
    "create_experiment",
    "parse_variants",
    "update_experiment",
    "validate_coverage",
    "validate_experiment_id",
    "with_weights",
]

MAX_VARIANTS = 20
MAX_VARIANT_NAME = 64
MAX_EXPERIMENT_ID = 64
MAX_EXPERIMENT_NAME = 200
MAX_WEIGHT = 1_000_000
"""Weights are relative: a million to one is as uneven as an experiment gets, and 20
weights this large still sum far inside a double (1e308 twice does not: inf, and every
weight divided by it was 0)."""
_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]*")


@attrs.frozen
class Variant:
    name: str
    weight: float


@attrs.frozen
class Experiment:
    """An experiment definition. `variants` carry weights normalised to sum 1.

    `ranges`, `variant_names` and `seed_bytes` are derived once at construction so
    that an assignment does no more than hash the user id.
    """

    id: str
    name: str
    variants: tuple[Variant, ...]
    active: bool
    coverage: float
    seed: str
    created_at: float  # seconds since the epoch
    updated_at: float
    variant_names: tuple[str, ...] = attrs.field(init=False, eq=False, repr=False)
    ranges: tuple[Range, ...] = attrs.field(init=False, eq=False, repr=False)
    seed_bytes: bytes = attrs.field(init=False, eq=False, repr=False)

    @variant_names.default
    def _variant_names(self) -> tuple[str, ...]:
        return tuple(v.name for v in self.variants)

    @ranges.default
    def _ranges(self) -> tuple[Range, ...]:
        weights = [v.weight for v in self.variants]
        return bucket_ranges(len(weights), self.coverage, weights)

    @seed_bytes.default
    def _seed_bytes(self) -> bytes:
        return self.seed.encode()

    def weights(self) -> tuple[float, ...]:
        return tuple(v.weight for v in self.variants)

    def to_dict(self) -> dict[str, Any]:
        """The JSON-RPC shape; timestamps as ISO 8601 UTC strings."""
        return {
            "id": self.id,
            "name": self.name,
            "variants": [{"name": v.name, "weight": v.weight} for v in self.variants],
            "active": self.active,
            "coverage": self.coverage,
            "seed": self.seed,
            "created_at": _iso(self.created_at),
            "updated_at": _iso(self.updated_at),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Experiment:
        """Rebuild from `to_dict` output (or a stored row of the same shape). Trusts
        its input: for data this module validated before, not for client input."""
        return cls(
            id=data["id"],
            name=data["name"],
            variants=tuple(Variant(v["name"], float(v["weight"])) for v in data["variants"]),
            active=bool(data["active"]),
            coverage=float(data["coverage"]),
            seed=data["seed"],
            created_at=_epoch(data["created_at"]),
            updated_at=_epoch(data["updated_at"]),
        )


def _iso(ts: float) -> str:
    return iso_utc(ts * 1000)  # type: ignore[return-value]


def _epoch(value: float | str) -> float:
    if isinstance(value, str):
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    return float(value)


# ------------------------------------------------------------------- validation


class _Errors:
    """Collects field errors so a client hears of all of them at once."""

    def __init__(self) -> None:
        self.items: list[tuple[str, str]] = []

    def add(self, field: str, message: str) -> None:
        self.items.append((field, message))

    def take(self, error: InvalidParams) -> None:
        self.items.extend((e["field"], e["message"]) for e in error.errors)

    def raise_if_any(self) -> None:
        if self.items:
            (field, message), *more = self.items
            raise InvalidParams(field, message, *more)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_variant_name(value: object, field: str, errors: _Errors) -> str | None:
    if not isinstance(value, str):
        errors.add(field, "must be a string")
        return None
    if not value.strip():
        errors.add(field, "must not be empty")
        return None
    if len(value) > MAX_VARIANT_NAME:
        errors.add(field, f"must be at most {MAX_VARIANT_NAME} characters")
        return None
    return value


def parse_variants(value: object, field: str = "variants") -> tuple[Variant, ...]:
    """Variants from a list of names (equal weights) or of `{name, weight}` objects.

    Weights are normalised to sum 1; a single weight may be 0 but not all of them.
    Raises `InvalidParams` listing every problem (`variants[1].weight`, ...).
    """
    if not isinstance(value, (list, tuple)):
        raise InvalidParams(
            field, "must be a list of variant names or of {name, weight} objects"
        )
    if not value:
        raise InvalidParams(field, "must have at least one variant")
    if len(value) > MAX_VARIANTS:
        raise InvalidParams(field, f"must have at most {MAX_VARIANTS} variants")
    errors = _Errors()

    weighted = isinstance(value[0], Mapping)
    names: list[str | None] = []
    weights: list[float] = []
    for i, item in enumerate(value):
        where = f"{field}[{i}]"
        if weighted:
            if not isinstance(item, Mapping):
                errors.add(where, "must be a {name, weight} object like the first variant")
                names.append(None)
                continue
            for key in item:
                if key not in ("name", "weight"):
                    errors.add(f"{where}.{key}", "unknown field")
            if "name" not in item:
                errors.add(f"{where}.name", "is required")
                names.append(None)
            else:
                names.append(_check_variant_name(item["name"], f"{where}.name", errors))
            weight = item.get("weight")
            if "weight" not in item:
                errors.add(f"{where}.weight", "is required")
            elif not _is_number(weight) or not math.isfinite(weight):
                errors.add(f"{where}.weight", "must be a number")
            elif not 0 <= weight <= MAX_WEIGHT:
                errors.add(f"{where}.weight", f"must be from 0 to {MAX_WEIGHT}")
            else:
                weights.append(float(weight))
        else:
            if isinstance(item, Mapping):
                errors.add(where, "must be a name like the first variant")
                names.append(None)
            else:
                names.append(_check_variant_name(item, where, errors))

    seen: set[str] = set()
    for i, name in enumerate(names):
        if name is None:
            continue
        if name in seen:
            where = f"{field}[{i}].name" if weighted else f"{field}[{i}]"
            errors.add(where, f"duplicate variant name {name!r}")
        seen.add(name)

    if weighted and len(weights) == len(value) and sum(weights) <= 0:
        errors.add(field, "weights must not all be zero")
    errors.raise_if_any()

    if not weighted:
        return tuple(Variant(str(n), 1.0 / len(names)) for n in names)
    total = sum(weights)
    return tuple(Variant(str(n), w / total) for n, w in zip(names, weights))


def with_weights(
    current: Sequence[Variant], value: object, field: str = "variants"
) -> tuple[Variant, ...]:
    """New weights for existing variants: the names must be the same, in the same order."""
    variants = parse_variants(value, field)
    old = [v.name for v in current]
    new = [v.name for v in variants]
    if new != old:
        raise InvalidParams(
            field, f"variant names cannot change; expected {old!r} in this order"
        )
    return variants


def validate_coverage(value: object, field: str = "coverage") -> float:
    """A number from 0 to 1."""
    if not _is_number(value) or not math.isfinite(value):  # type: ignore[arg-type]
        raise InvalidParams(field, "must be a number from 0 to 1")
    if not 0 <= value <= 1:  # type: ignore[operator]
        raise InvalidParams(field, "must be from 0 to 1")
    return float(value)  # type: ignore[arg-type]


def validate_experiment_id(value: object, field: str = "id") -> str:
    """1..64 characters: letters, digits and `_ . : -`, starting with a letter or digit."""
    if not isinstance(value, str):
        raise InvalidParams(field, "must be a string")
    if not 1 <= len(value) <= MAX_EXPERIMENT_ID or _ID_RE.fullmatch(value) is None:
        raise InvalidParams(
            field,
            f"must be 1 to {MAX_EXPERIMENT_ID} letters, digits or _ . : -, "
            "starting with a letter or digit",
        )
    return value


def _validate_name(value: object, field: str = "name") -> str:
    if not isinstance(value, str):
        raise InvalidParams(field, "must be a string")
    if not value.strip():
        raise InvalidParams(field, "must not be empty")
    if len(value) > MAX_EXPERIMENT_NAME:
        raise InvalidParams(field, f"must be at most {MAX_EXPERIMENT_NAME} characters")
    return value


def _validate_active(value: object, field: str = "active") -> bool:
    if not isinstance(value, bool):
        raise InvalidParams(field, "must be true or false")
    return value


def create_experiment(params: Mapping[str, Any], now: float) -> Experiment:
    """An experiment from `experiments.create` params `{id, name, variants, active?,
    coverage?}`. `active` defaults to true, `coverage` to 1; the seed is the id, as
    GrowthBook's default, so re-creating an experiment reproduces its assignments."""
    errors = _Errors()
    fields: dict[str, Any] = {}
    checks = [
        ("id", validate_experiment_id, True),
        ("name", _validate_name, True),
        ("variants", parse_variants, True),
        ("active", _validate_active, False),
        ("coverage", validate_coverage, False),
    ]
    for key, check, required in checks:
        if key not in params:
            if required:
                errors.add(key, "is required")
            continue
        try:
            fields[key] = check(params[key], key)
        except InvalidParams as e:
            errors.take(e)
    errors.raise_if_any()
    return Experiment(
        id=fields["id"],
        name=fields["name"],
        variants=fields["variants"],
        active=fields.get("active", True),
        coverage=fields.get("coverage", 1.0),
        seed=fields["id"],
        created_at=now,
        updated_at=now,
    )


def update_experiment(
    current: Experiment, params: Mapping[str, Any], now: float
) -> Experiment:
    """Apply `experiments.update` params `{active?, coverage?, variants?}` (other keys,
    such as `id`, are left to the caller). Variants may only change weights."""
    errors = _Errors()
    changes: dict[str, Any] = {}
    for key, check in (
        ("active", _validate_active),
        ("coverage", validate_coverage),
        ("variants", lambda v, f: with_weights(current.variants, v, f)),
    ):
        if key in params:
            try:
                changes[key] = check(params[key], key)
            except InvalidParams as e:
                errors.take(e)
    errors.raise_if_any()
    return attrs.evolve(current, **changes, updated_at=now)
