"""Search filters: parsed and checked once at the edge, then plain values."""

from __future__ import annotations

import math
from typing import Any

import attrs

from actors.catalog.model import CONTENT_TYPES, LABEL_MAX
from actors.errors import InvalidParams

MAX_VALUES = 50  # values per list filter

_KEYS = ("genres", "platforms", "type", "year_min", "year_max", "rating_min", "rating_max")


@attrs.frozen
class Filters:
    """What hits must satisfy. Empty tuples and None mean "no constraint".

    genres / platforms: any of (matched case-insensitively); types: any of;
    year and rating bounds are inclusive.
    """

    genres: tuple[str, ...] = ()
    platforms: tuple[str, ...] = ()
    types: tuple[str, ...] = ()
    year_min: int | None = None
    year_max: int | None = None
    rating_min: float | None = None
    rating_max: float | None = None

    def scalar_active(self) -> bool:
        return bool(self.types) or any(
            v is not None for v in (self.year_min, self.year_max, self.rating_min, self.rating_max)
        )


NO_FILTERS = Filters()


def parse_filters(raw: Any, field: str = "filters") -> Filters:
    """Check a client's filters object: {genres?, platforms?, type?, year_min?,
    year_max?, rating_min?, rating_max?}. `type` is one type or a list of them. Raises
    InvalidParams naming every bad field ("filters.year_min", ...)."""
    if raw is None:
        return NO_FILTERS
    if isinstance(raw, Filters):
        return raw
    if not isinstance(raw, dict):
        raise InvalidParams(field, "must be an object")
    errors: list[tuple[str, str]] = []

    def bad(name: str, message: str) -> None:
        errors.append((f"{field}.{name}", message))

    for key in raw:
        if key not in _KEYS:
            bad(str(key), "unknown filter")

    lists: dict[str, tuple[str, ...]] = {}
    for name in ("genres", "platforms"):
        value = raw.get(name)
        if value is None:
            lists[name] = ()
        elif (
            not isinstance(value, list)
            or len(value) > MAX_VALUES
            or not all(isinstance(v, str) and 0 < len(v) <= LABEL_MAX for v in value)
        ):
            bad(name, f"must be a list of at most {MAX_VALUES} non-empty strings")
        else:
            lists[name] = tuple(dict.fromkeys(value))

    types: tuple[str, ...] = ()
    value = raw.get("type")
    if value is not None:
        values = [value] if isinstance(value, str) else value
        if not isinstance(values, list) or not all(v in CONTENT_TYPES for v in values):
            bad("type", "must be movie, series or episode, or a list of them")
        else:
            types = tuple(dict.fromkeys(values))

    bounds: dict[str, Any] = {}
    for name in ("year_min", "year_max"):
        v = raw.get(name)
        if v is not None and (isinstance(v, bool) or not isinstance(v, int)):
            bad(name, "must be an integer")
        else:
            bounds[name] = v
    for name in ("rating_min", "rating_max"):
        v = raw.get(name)
        if v is not None and (
            isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v)
        ):
            bad(name, "must be a number")
        else:
            bounds[name] = None if v is None else float(v)
    for lo, hi in (("year_min", "year_max"), ("rating_min", "rating_max")):
        if bounds.get(lo) is not None and bounds.get(hi) is not None and bounds[lo] > bounds[hi]:
            bad(lo, f"must not be greater than {hi}")

    if errors:
        raise InvalidParams(errors[0][0], errors[0][1], *errors[1:])
    return Filters(
        genres=lists["genres"],
        platforms=lists["platforms"],
        types=types,
        year_min=bounds["year_min"],
        year_max=bounds["year_max"],
        rating_min=bounds["rating_min"],
        rating_max=bounds["rating_max"],
    )
