"""`content.list` from memory: the catalog in the three orders the listing offers.

The same order and pages as the SQL it replaces (`actors.catalog.store.SORTS`):
popularity descending then id descending, title ascending then id ascending (code
point order, as both databases compare), year descending then id descending. Each
order is one list of items kept sorted by insertion, so an offset page is a slice and a
keyset page a bisection.
"""

from __future__ import annotations

import bisect
from operator import attrgetter
from collections.abc import Callable, Iterable
from typing import Any

from actors.catalog.model import ContentItem
from actors.errors import InvalidParams

# sort -> (key of the ascending list, whether the listing reads it backwards)
SORTS: dict[str, tuple[Callable[[ContentItem], tuple[Any, str]], bool]] = {
    "popularity": (attrgetter("popularity", "id"), True),
    "title": (attrgetter("title", "id"), False),
    "year": (attrgetter("year", "id"), True),
}
_TYPES = {"popularity": (int, float), "title": (str,), "year": (int,)}


# The sort key's first field alone: sorting the items in id order by it (a stable sort)
# gives the same order as by the whole key, faster (one value per item to compare).
_FIRST = {"popularity": attrgetter("popularity"), "title": attrgetter("title"), "year": attrgetter("year")}


class Orders:
    def __init__(self, items: Iterable[ContentItem] = ()) -> None:
        by_id = sorted(items, key=attrgetter("id"))
        self._lists = {sort: sorted(by_id, key=_FIRST[sort]) for sort in SORTS}

    def __len__(self) -> int:
        return len(self._lists["title"])

    def add(self, item: ContentItem) -> None:
        for sort, (key, _) in SORTS.items():
            bisect.insort(self._lists[sort], item, key=key)

    def discard(self, item: ContentItem) -> None:
        for sort, (key, _) in SORTS.items():
            ordered = self._lists[sort]
            i = bisect.bisect_left(ordered, key(item), key=key)
            if i < len(ordered) and ordered[i].id == item.id:
                del ordered[i]

    def offset_page(self, sort: str, offset: int, limit: int) -> list[ContentItem]:
        ordered = self._lists[sort]
        if not SORTS[sort][1]:
            return ordered[offset : offset + limit]
        end = len(ordered) - offset
        if end <= 0:
            return []
        return ordered[max(0, end - limit) : end][::-1]

    def after(self, sort: str, after: tuple | None, limit: int) -> list[ContentItem]:
        """Up to `limit` items following the one whose sort key is `after`."""
        key, backwards = SORTS[sort]
        ordered = self._lists[sort]
        if after is None:
            return self.offset_page(sort, 0, limit)
        if (len(after) != 2 or not isinstance(after[1], str) or isinstance(after[0], bool)
                or not isinstance(after[0], _TYPES[sort])):
            raise InvalidParams("cursor", "is not a cursor of this listing")
        if backwards:
            i = bisect.bisect_left(ordered, tuple(after), key=key)
            return ordered[max(0, i - limit) : i][::-1]
        i = bisect.bisect_right(ordered, tuple(after), key=key)
        return ordered[i : i + limit]


def sort_key(item: ContentItem, sort: str) -> tuple:
    return SORTS[sort][0](item)
