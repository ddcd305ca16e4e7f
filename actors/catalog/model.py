"""The content item: one movie, series or episode of the catalog.

`ContentItem` is a plain frozen value. Its constructor does not validate (the demo
generator and the storage layer build hundreds of thousands of them from trusted data);
`ContentItem.from_dict` is the edge where client or file input comes in, and it checks
every field, reporting all problems at once as `actors.errors.InvalidParams`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import attrs
import orjson

from actors.compact import compact
from actors.errors import InvalidParams

CONTENT_TYPES = ("movie", "series", "episode")

ID_MAX = 128
TITLE_MAX = 500
LABELS_MAX = 20  # genres, platforms per item
LABEL_MAX = 64  # characters per genre / platform
YEAR_MIN, YEAR_MAX = 1870, 2100
RATING_MIN, RATING_MAX = 0.0, 10.0
POPULARITY_MAX = 1e15  # views or a score: any scale up to a quadrillion

SEASON_MAX = EPISODE_MAX = 2_147_483_647  # a 32-bit INTEGER column
# A year in milliseconds. A BIGINT column holds far more, but playback's SQL multiplies
# positions by 100 (continue watching's 5 % rule), which past 2^63 / 100 fails on
# PostgreSQL; and JavaScript numbers hold every value up to here exactly.
DURATION_MAX = 365 * 24 * 3600 * 1000

FIELDS = ("id", "title", "type", "year", "genres", "platforms", "rating", "popularity", "duration_ms",
          "series_id", "season", "episode")
SERIES_FIELDS = ("series_id", "season", "episode")
"""An episode's place in its series: all three or none, and only on an episode."""
_REQUIRED = ("id", "title", "type", "year")


@attrs.frozen(slots=True)
class ContentItem:
    id: str
    title: str
    type: str  # "movie" | "series" | "episode"
    year: int
    genres: tuple[str, ...] = ()
    platforms: tuple[str, ...] = ()
    rating: float = 0.0  # 0..10
    popularity: float = 0.0  # >= 0, any scale (views, a score); only the order and log matter
    duration_ms: int = 0
    series_id: str | None = None  # an episode's series (an item of type "series")
    season: int | None = None  # >= 1, with series_id
    episode: int | None = None  # >= 1, with series_id
    # `to_json`'s bytes, made on first use: not a field of the value (no init, eq, hash or repr).
    _json: bytes | None = attrs.field(default=None, init=False, eq=False, hash=False, repr=False)

    @classmethod
    def from_dict(cls, d: Any, prefix: str = "") -> ContentItem:
        """Validate a client/file dict and build an item.

        `id`, `title`, `type` and `year` are required; `genres`, `platforms` default to
        empty, `rating`, `popularity`, `duration_ms` to 0. An episode may name its place
        in a series: `series_id`, `season` and `episode` together (numbers from 1), or
        none of them; other types take none. That the series exists is checked where
        storage is at hand (`actors.catalog.series`). Unknown keys are ignored (a
        result may carry more fields; CSV files may have extra columns). Field names in
        the error are `prefix + name`, so a caller passes e.g. ``prefix="items[3]."``.
        Raises InvalidParams listing every bad field.
        """
        if not isinstance(d, Mapping):
            raise InvalidParams(prefix.rstrip(".") or "item", "must be an object")
        errors: list[tuple[str, str]] = []

        def bad(name: str, message: str) -> None:
            errors.append((prefix + name, message))

        for name in _REQUIRED:
            if d.get(name) is None:
                bad(name, "is required")

        id_ = d.get("id")
        if id_ is not None:
            if not isinstance(id_, str):
                bad("id", "must be a string")
            elif not 1 <= len(id_) <= ID_MAX or id_.strip() != id_:
                bad("id", f"must be 1..{ID_MAX} characters without surrounding spaces")

        title = d.get("title")
        if title is not None:
            if not isinstance(title, str):
                bad("title", "must be a string")
            elif not title.strip() or len(title) > TITLE_MAX:
                bad("title", f"must be 1..{TITLE_MAX} characters, not blank")

        type_ = d.get("type")
        if type_ is not None and type_ not in CONTENT_TYPES:
            bad("type", "must be one of movie, series, episode")

        year = d.get("year")
        if year is not None:
            if not _is_int(year):
                bad("year", "must be an integer")
            elif not YEAR_MIN <= year <= YEAR_MAX:
                bad("year", f"must be between {YEAR_MIN} and {YEAR_MAX}")

        labels: dict[str, tuple[str, ...]] = {}
        for name in ("genres", "platforms"):
            value = d.get(name, ())
            if value is None:
                value = ()
            checked = _labels(value)
            if checked is None:
                bad(name, f"must be a list of at most {LABELS_MAX} non-blank strings of at most {LABEL_MAX} characters")
            else:
                labels[name] = checked

        rating = d.get("rating", 0.0)
        if not _is_number(rating):
            bad("rating", "must be a number")
        elif not RATING_MIN <= rating <= RATING_MAX:
            bad("rating", "must be between 0 and 10")

        popularity = d.get("popularity", 0.0)
        if not _is_number(popularity):
            bad("popularity", "must be a number")
        elif not 0 <= popularity <= POPULARITY_MAX:
            bad("popularity", f"must be between 0 and {POPULARITY_MAX:.0e}")

        duration = d.get("duration_ms", 0)
        if not _is_int(duration):
            bad("duration_ms", "must be an integer")
        elif not 0 <= duration <= DURATION_MAX:
            bad("duration_ms", f"must be between 0 and {DURATION_MAX} (a year)")

        placed = {name: d.get(name) for name in SERIES_FIELDS if d.get(name) is not None}
        series_id = placed.get("series_id")
        if series_id is not None and (not isinstance(series_id, str) or not 1 <= len(series_id) <= ID_MAX
                                      or series_id.strip() != series_id):
            bad("series_id", f"must be 1..{ID_MAX} characters without surrounding spaces")
        elif series_id is not None and series_id == id_:
            bad("series_id", "an episode cannot be its own series")
        for name, top in (("season", SEASON_MAX), ("episode", EPISODE_MAX)):
            number = placed.get(name)
            if number is not None and (not _is_int(number) or not 1 <= number <= top):
                bad(name, f"must be an integer between 1 and {top}")
        if placed and type_ in CONTENT_TYPES and type_ != "episode":
            bad(next(iter(placed)), "only an episode belongs to a series")
        elif placed and len(placed) < len(SERIES_FIELDS):
            missing = next(name for name in SERIES_FIELDS if name not in placed)
            bad(missing, "is required with " + ", ".join(placed))

        if errors:
            raise InvalidParams(errors[0][0], errors[0][1], *errors[1:])
        return cls(
            id=id_,
            title=title,
            type=type_,
            year=year,
            genres=labels["genres"],
            platforms=labels["platforms"],
            rating=float(rating),
            popularity=float(popularity),
            duration_ms=duration,
            series_id=placed.get("series_id"),
            season=placed.get("season"),
            episode=placed.get("episode"),
        )

    def to_dict(self) -> dict[str, Any]:
        """The contract's JSON shape (lists, not tuples); `series_id`, `season` and
        `episode` only for an episode placed in a series."""
        out: dict[str, Any] = {
            "id": self.id,
            "title": self.title,
            "type": self.type,
            "year": self.year,
            "genres": list(self.genres),
            "platforms": list(self.platforms),
            "rating": self.rating,
            "popularity": self.popularity,
            "duration_ms": self.duration_ms,
        }
        if self.series_id is not None:
            out["series_id"] = self.series_id
            out["season"] = self.season
            out["episode"] = self.episode
        return out


    def to_json(self) -> bytes:
        """`to_dict()` encoded as orjson encodes it, once per item: an item is a
        value that is replaced, never changed, and answers carry the same items over
        and over (`orjson.Fragment(item.to_json())` splices the bytes into an answer)."""
        raw = self._json
        if raw is None:
            raw = compact(orjson.dumps(self.to_dict()))
            object.__setattr__(self, "_json", raw)
        return raw


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return False
    return math.isfinite(v)


def _labels(value: Any) -> tuple[str, ...] | None:
    """Genres/platforms: a list of strings, order kept, duplicates dropped; None if bad."""
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
        return None
    if len(value) > LABELS_MAX:
        return None
    out: list[str] = []
    for v in value:
        if not isinstance(v, str) or not v.strip() or len(v) > LABEL_MAX:
            return None
        if v not in out:
            out.append(v)
    return tuple(out)
