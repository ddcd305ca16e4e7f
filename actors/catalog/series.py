"""Series links that need storage to check: an episode's series must exist (in the same
write, or already stored) and be of type "series"; a series that episodes point at
keeps its type.

There is no delete in the API: a series stops being one only by an upsert that changes
its type, which is refused while stored episodes (other than ones re-pointed in the same
write) still name it. The problems are answered as -32602 naming the field of the item
at fault (`items[i].series_id`, `items[i].type`), as every other bad value is.
"""

from __future__ import annotations

from collections.abc import Sequence

from actors.catalog import store
from actors.catalog.model import ContentItem
from actors.errors import InvalidParams
from actors.storage import Queries

Problem = tuple[int, str, str]
"""(index of the item in the write, field, message)."""


async def problems(db: Queries, items: Sequence[ContentItem]) -> list[Problem]:
    """Every series link of `items` that storage (as `db` sees it) cannot accept."""
    written = {item.id: item for item in items}
    named = {item.series_id for item in items if item.series_id is not None}
    stored = await store.types_of(db, named - written.keys())
    found: list[Problem] = []
    for i, item in enumerate(items):
        if item.series_id is None:
            continue
        kind = written[item.series_id].type if item.series_id in written else stored.get(item.series_id)
        if kind is None:
            found.append((i, "series_id", f"no series {item.series_id!r}"))
        elif kind != "series":
            found.append((i, "series_id", f"{item.series_id!r} is a {kind}, not a series"))
    retyped = [item.id for item in items if item.type != "series"]
    if retyped:
        was_series = {cid for cid, kind in (await store.types_of(db, retyped)).items() if kind == "series"}
        if was_series:
            pointing = await store.episodes_of(db, was_series)
            for i, item in enumerate(items):
                left = [e for e in pointing.get(item.id, ()) if e not in written]
                if left:
                    found.append((i, "type", f"series {item.id!r} still has {len(left)} episode(s) "
                                             f"(e.g. {left[0]!r}): it stays a series"))
    return found


async def check(db: Queries, items: Sequence[ContentItem], prefix: str = "items") -> None:
    """InvalidParams naming `prefix[i].field` for each problem (the first 50)."""
    found = await problems(db, items)
    if found:
        listed = [(f"{prefix}[{i}].{field}", message) for i, field, message in found[:50]]
        raise InvalidParams(*listed[0], *listed[1:])
