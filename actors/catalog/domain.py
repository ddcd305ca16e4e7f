"""The catalog domain's entry: `start(env)` gives its actor's child spec and the facade
handlers call.

Content reads (`item`, `list`) ask the search index's in-memory copy first (when the
application gives one as `index`), so a read costs no database round trip; the catalog
actor reads storage for anything the index lacks, and for a listing when the index is
busy or not running. Writes are handed to the index (`changed`) before they are
answered, so a read sees the writes of this node that came before it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from actors.catalog.actor import CatalogActor
from actors.catalog.messages import GetContent, ListContent, ListEpisodes, Upsert
from actors.catalog.model import ContentItem
from actors.env import DomainEnv
from actors.paging import Page, Slice
from runtime import ActorRef, ChildSpec, Registry

NAME = "catalog"
UPSERT_TIMEOUT = 30.0
"""Seconds an upsert of up to 1,000 items may take (one transaction, then the index)."""


class ItemIndex(Protocol):
    """An in-memory copy of the catalog (the search index)."""

    async def indexed(self, content_id: str) -> ContentItem | None:
        """The item if the copy holds it and answers promptly, else None."""

    async def listed(self, page: Page, sort: str) -> Slice[bytes] | None:
        """One page of the catalog by `sort`, in storage's order, each item as its JSON
        (`ContentItem.to_json`), if the copy answers promptly, else None."""

    async def changed(self, items: Sequence[ContentItem]) -> None:
        """Content written on this node (stored), for the copy to follow before the
        write is answered."""


class CatalogDomain:
    """What the node's other parts call on the catalog. `children`: its actor."""

    def __init__(self, env: DomainEnv, index: ItemIndex | None = None) -> None:
        self._registry: Registry = env.registry
        self._index = index
        changed = index.changed if index is not None else None
        self.children = [ChildSpec(NAME, lambda: CatalogActor(env.storage, env.kv, env.node_id, changed))]

    def _ref(self) -> ActorRef:
        return self._registry.lookup(NAME)

    async def upsert(self, items: Sequence[ContentItem]) -> int:
        """Create or replace `items` (stored in one transaction, then indexed); how many."""
        upserted: int = await self._ref().ask(Upsert(tuple(items)), timeout=UPSERT_TIMEOUT)
        return upserted

    async def item(self, content_id: str) -> ContentItem:
        """One content item: the index's copy, else the catalog actor's read of storage
        (`NotFound` if neither has it).

        The index follows every write made on this node before the write is answered
        (the catalog tells the search actor before it replies, and the search mailbox is
        first in, first out), and writes of other nodes within a pub/sub delivery."""
        if self._index is not None:
            item = await self._index.indexed(content_id)
            if item is not None:
                return item
        found: ContentItem = await self._ref().ask(GetContent(content_id))
        return found

    async def list(self, page: Page, sort: str) -> Slice[bytes]:
        """The catalog by `sort` (popularity, title or year), one page, each item as its
        JSON (`ContentItem.to_json`): from the index's copy (as fresh as `item`'s), else
        from storage."""
        if self._index is not None:
            listed = await self._index.listed(page, sort)
            if listed is not None:
                return listed
        found: Slice[ContentItem] = await self._ref().ask(ListContent(page, sort))
        return Slice([item.to_json() for item in found.items], found.total, found.next_key)

    async def episodes(self, series_id: str, page: Page) -> Slice[ContentItem]:
        """The episodes of a series in season, episode order, one page."""
        found: Slice[ContentItem] = await self._ref().ask(ListEpisodes(series_id, page))
        return found


def start(env: DomainEnv, *, index: ItemIndex | None = None) -> CatalogDomain:
    """The catalog domain of this node: its child spec (nothing runs until a supervisor
    starts it) and its facade."""
    return CatalogDomain(env, index)
