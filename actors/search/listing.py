"""`content.list` from memory: the catalog in the three orders the listing offers.

The same order and pages as the SQL it replaces (`actors.catalog.store.SORTS`):
popularity descending then id descending, title ascending then id ascending (code
point order, as both databases compare), year descending then id descending. Each
order is one list of items kept sorted by insertion, so an offset page is a slice and a
keyset page a bisection.

Beside each order lies a column of the items' JSON (`ContentItem.to_json`, filled the
first time an item is listed in that order): a page of JSON is a slice of the column.
The items themselves lie all over memory, and reaching twenty of them for their JSON
cost a page more than everything else it does.
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

Span = tuple[int, int]
"""Positions `lo` to `hi` (exclusive) of an ascending list."""


class Orders:
    def __init__(self, items: Iterable[ContentItem] = ()) -> None:
        by_id = sorted(items, key=attrgetter("id"))
        self._lists = {sort: sorted(by_id, key=_FIRST[sort]) for sort in SORTS}
        self._json: dict[str, list[bytes | None]] = {sort: [None] * len(by_id) for sort in SORTS}

    def __len__(self) -> int:
        return len(self._lists["title"])

    def add(self, item: ContentItem) -> None:
        for sort, (key, _) in SORTS.items():
            ordered = self._lists[sort]
            i = bisect.bisect_right(ordered, key(item), key=key)
            ordered.insert(i, item)
            self._json[sort].insert(i, None)

    def discard(self, item: ContentItem) -> None:
        for sort, (key, _) in SORTS.items():
            ordered = self._lists[sort]
            i = bisect.bisect_left(ordered, key(item), key=key)
            if i < len(ordered) and ordered[i].id == item.id:
                del ordered[i]
                del self._json[sort][i]

    def offset_json(self, sort: str, offset: int, limit: int) -> list[bytes]:
        """The page of `limit` items from `offset` in the listing's order, each as its JSON."""
        return _listed(self._filled(sort, *self._offset_span(sort, offset, limit)), sort)

    def after_json(self, sort: str, after: tuple | None, limit: int) -> tuple[list[bytes], tuple | None]:
        """Up to `limit` items following the one whose sort key is `after`, each as its
        JSON, and the sort key of the last of them when more follow (None on the last
        page)."""
        lo, hi = self._after_span(sort, after, limit + 1)
        key, backwards = SORTS[sort]
        last = None
        if hi - lo > limit:  # more follow: the one read beyond the page is left out
            lo, hi = (lo + 1, hi) if backwards else (lo, hi - 1)
            last = key(self._lists[sort][lo if backwards else hi - 1])
        return _listed(self._filled(sort, lo, hi), sort), last

    def _offset_span(self, sort: str, offset: int, limit: int) -> Span:
        n = len(self)
        if not SORTS[sort][1]:
            return min(offset, n), min(offset + limit, n)
        end = n - offset
        if end <= 0:
            return 0, 0
        return max(0, end - limit), end

    def _after_span(self, sort: str, after: tuple | None, limit: int) -> Span:
        if after is None:
            return self._offset_span(sort, 0, limit)
        if (len(after) != 2 or not isinstance(after[1], str) or isinstance(after[0], bool)
                or not isinstance(after[0], _TYPES[sort])):
            raise InvalidParams("cursor", "is not a cursor of this listing")
        key, backwards = SORTS[sort]
        ordered = self._lists[sort]
        if backwards:
            i = bisect.bisect_left(ordered, tuple(after), key=key)
            return max(0, i - limit), i
        i = bisect.bisect_right(ordered, tuple(after), key=key)
        return i, min(i + limit, len(ordered))

    def _filled(self, sort: str, lo: int, hi: int) -> list[bytes]:
        """The JSON column of `sort` from `lo` to `hi`, in ascending order, with what
        was missing made."""
        column = self._json[sort]
        chunk = column[lo:hi]
        if None in chunk:  # listed in this order for the first time
            ordered = self._lists[sort]
            for i in range(lo, hi):
                if column[i] is None:
                    column[i] = ordered[i].to_json()
            chunk = column[lo:hi]
        return chunk  # type: ignore[return-value]  # filled just above


def _listed(chunk: list[bytes], sort: str) -> list[bytes]:
    """`chunk`, a fresh slice of an ascending list, in the listing's order."""
    if SORTS[sort][1]:
        chunk.reverse()
    return chunk

