"""The catalog actor: writes content, answers content.get and content.list from storage."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import orjson

from actors.catalog import series, store
from actors.catalog.messages import CATALOG_CHANNEL, GetContent, ListContent, ListEpisodes, Upsert
from actors.catalog.model import ContentItem
from actors.errors import InvalidParams, NotFound, storage_errors
from actors.kv import KV
from actors.paging import KeysetPage, OffsetPage, Slice, keyset_slice
from actors.storage import Storage
from runtime import Actor

log = logging.getLogger("actors.catalog")

COUNT_TTL = 1.0
"""Seconds an offset listing's `total` may lag writes made on other nodes (count(*) over
the whole catalog costs ~10 ms on PostgreSQL; writes on this node refresh it at once)."""


Changed = Callable[[Sequence[ContentItem]], Awaitable[None]]
"""Told the items of every write once stored (the search index's `changed`)."""


class CatalogActor(Actor):
    def __init__(self, storage: Storage, kv: KV, node_id: str, changed: Changed | None = None) -> None:
        """`changed`: told every write once stored (the search index, when the node runs one)."""
        self.storage = storage
        self.kv = kv
        self.node_id = node_id
        self.changed = changed
        self._count: tuple[float, int] | None = None  # (monotonic time read, total)

    async def receive(self, msg: object) -> Any:
        if isinstance(msg, GetContent):
            with storage_errors():
                item = await store.get(self.storage, msg.id)
            if item is None:
                raise NotFound(f"content {msg.id!r} not found")
            return item
        if isinstance(msg, ListContent):
            return await self._list(msg)
        if isinstance(msg, Upsert):
            return await self._upsert(msg.items)
        if isinstance(msg, ListEpisodes):
            return await self._episodes(msg)
        return await super().receive(msg)

    async def _list(self, msg: ListContent) -> Slice[ContentItem]:
        page = msg.page
        with storage_errors():
            if isinstance(page, OffsetPage):
                total = await self._total()
                items = await store.list_offset(self.storage, msg.sort, page.offset, page.page_size)
                return Slice(items, total)
            assert isinstance(page, KeysetPage)
            items = await store.list_after(self.storage, msg.sort, page.after, page.limit + 1)
        return keyset_slice(items, page, lambda item: store.sort_key(item, msg.sort))

    async def _episodes(self, msg: ListEpisodes) -> Slice[ContentItem]:
        page = msg.page
        with storage_errors():
            kind = (await store.types_of(self.storage, [msg.series_id])).get(msg.series_id)
            if kind is None:
                raise NotFound(f"series {msg.series_id!r} not found")
            if kind != "series":
                raise InvalidParams("series_id", f"{msg.series_id!r} is a {kind}, not a series")
            if isinstance(page, OffsetPage):
                total = await store.count_episodes(self.storage, msg.series_id)
                items = await store.list_episodes_offset(self.storage, msg.series_id, page.offset, page.page_size)
                return Slice(items, total)
            assert isinstance(page, KeysetPage)
            items = await store.list_episodes_after(self.storage, msg.series_id, page.after, page.limit + 1)
        return keyset_slice(items, page, store.episode_key)

    async def _total(self) -> int:
        now = time.monotonic()
        if self._count is None or now - self._count[0] > COUNT_TTL:
            self._count = (now, await store.count(self.storage))
        return self._count[1]

    async def _upsert(self, items: tuple[ContentItem, ...]) -> int:
        with storage_errors():
            async with self.storage.transaction() as tx:
                await series.check(tx, items)
                await store.upsert(tx, items, int(time.time() * 1000))
        self._count = None
        log.info("upserted %d content items", len(items), extra={"event": "catalog.upsert", "count": len(items)})
        if self.changed is not None:
            await self.changed(items)
        await self.kv.publish(CATALOG_CHANNEL, orjson.dumps({"node": self.node_id, "ids": [i.id for i in items]}))
        return len(items)
