"""Paging as the domains see it: which page a listing asks for, and the slice an actor
answers with.

A listing asks for an `OffsetPage` (page number and size) or a `KeysetPage` (at most
`limit` items after the sort key `after`). Either way the actor answers one `Slice`;
turning it into the client's `page_info` and cursors is the protocol's job
(protocol/paging.py), the same for every listing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

import attrs

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100

SortKey = tuple[object, ...]
"""The sort key of a listing's item, e.g. (-popularity, id): what a keyset page resumes after."""


@attrs.frozen
class OffsetPage:
    page: int = 1
    page_size: int = DEFAULT_PAGE_SIZE

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.page_size


@attrs.frozen
class KeysetPage:
    limit: int
    after: SortKey | None = None  # the decoded cursor: the last row's sort key


Page = OffsetPage | KeysetPage


@attrs.frozen
class Slice(Generic[T_co]):
    """One page of a listing: its `items`; the listing's `total` (always for an offset
    page, where a listing counts for keyset pages too); and for a keyset page the sort
    key of the last item when more follow (`next_key`, None on the last page)."""

    items: Sequence[T_co]
    total: int | None = None
    next_key: SortKey | None = None


def keyset_slice(rows: Sequence[T], page: KeysetPage, key: Callable[[T], SortKey]) -> Slice[T]:
    """The slice of a keyset page read with one row more than `page.limit` (which says
    whether more follow)."""
    more = len(rows) > page.limit
    rows = rows[: page.limit]
    return Slice(rows, next_key=key(rows[-1]) if more and rows else None)
