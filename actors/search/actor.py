"""The search actor: owns the in-memory `SearchIndex`, keeps it in step with the catalog.

The index is built from storage at start; afterwards requests never touch the
database. It follows the catalog through `LocalChange` (writes on this node) and
the catalog's pub/sub channel (writes on other nodes: the changed ids are re-read).
Learned corrections and synonyms are stored before they are answered and spread the
same way. It also answers `content.list` pages from its copy of the catalog.
"""

from __future__ import annotations

import gc
import logging
import time
from typing import Any

import orjson
import trio

from actors.catalog import store
from actors.catalog.messages import CATALOG_CHANNEL
from actors.catalog.model import ContentItem
from actors.errors import storage_errors
from actors.kv import KV
from actors.kv.notices import MISSED, from_other_nodes
from actors.paging import OffsetPage, Page, Slice
from actors.search.index import QueryResult, SearchIndex
from actors.search.live import LiveIndex
from actors.search.messages import (
    CORRECTIONS_CHANNEL,
    SYNONYMS_CHANNEL,
    AddCorrection,
    Autocomplete,
    GetItem,
    ListItems,
    LocalChange,
    Query,
    Rebuild,
    Reload,
    ReloadCorrections,
    ReloadSynonyms,
    SetSynonyms,
)
from actors.storage import Storage
from runtime import Actor

log = logging.getLogger("actors.search")

AUTOCOMPLETE_NS = "ac"
"""KV namespace of cached autocomplete answers; dropped whenever the catalog changes."""

CORRECTION_SQL = """
INSERT INTO spell_corrections (misspelled, corrected, created_at) VALUES ($1, $2, $3)
ON CONFLICT (misspelled) DO UPDATE SET corrected = excluded.corrected, created_at = excluded.created_at
"""
SYNONYM_SQL = "INSERT INTO search_synonyms (position, phrases, one_way, created_at) VALUES ($1, $2, $3, $4)"


def answer_query(index: SearchIndex, msg: Query) -> QueryResult:
    """`msg` answered from `index` (by the actor, or directly by a reader)."""
    return index.query(msg.text, msg.filters, offset=msg.offset, limit=msg.limit,
                       include_facets=msg.include_facets, after=msg.after)


def list_page(index: SearchIndex, page: Page, sort: str) -> Slice[bytes]:
    """One `content.list` page from the index's copy of the catalog, each item as its
    JSON (`ContentItem.to_json`)."""
    orders = index.orders
    if isinstance(page, OffsetPage):
        return Slice(orders.offset_json(sort, page.offset, page.page_size), len(index))
    encoded, last = orders.after_json(sort, page.after, page.limit)
    return Slice(encoded, next_key=last)


class SearchActor(Actor):
    mailbox_size = 4096

    def __init__(self, storage: Storage, kv: KV, node_id: str, live: LiveIndex | None = None) -> None:
        self.storage = storage
        self.kv = kv
        self.node_id = node_id
        self.index = SearchIndex()
        self.live = live if live is not None else LiveIndex()
        """Where the node's other tasks read the index (published once built)."""

    async def started(self) -> None:
        await self._rebuild()
        self.start_soon(self._follow, CATALOG_CHANNEL)
        self.start_soon(self._follow, CORRECTIONS_CHANNEL)
        self.start_soon(self._follow, SYNONYMS_CHANNEL)

    async def receive(self, msg: object) -> Any:
        if isinstance(msg, Query):
            return answer_query(self.index, msg)
        if isinstance(msg, GetItem):
            return self.index.get(msg.id)
        if isinstance(msg, ListItems):
            return list_page(self.index, msg.page, msg.sort)
        if isinstance(msg, Autocomplete):
            return self.index.suggestions(msg.q, msg.limit)
        if isinstance(msg, LocalChange):
            try:
                for item in msg.items:
                    self.index.upsert(item)
            finally:
                self.live.behind -= 1
            await self.kv.delete_namespace(AUTOCOMPLETE_NS)
            return None
        if isinstance(msg, AddCorrection):
            return await self._add_correction(msg)
        if isinstance(msg, Reload):
            await self._reload(msg.ids)
            return None
        if isinstance(msg, ReloadCorrections):
            await self._load_corrections()
            return None
        if isinstance(msg, SetSynonyms):
            return await self._set_synonyms(msg)
        if isinstance(msg, ReloadSynonyms):
            await self._load_synonyms()
            await self.kv.delete_namespace(AUTOCOMPLETE_NS)
            return None
        if isinstance(msg, Rebuild):
            await self._rebuild()
            return None
        return await super().receive(msg)

    async def _set_synonyms(self, msg: SetSynonyms) -> None:
        groups = [(g.phrases, g.one_way) for g in msg.groups]
        SearchIndex().set_synonyms(groups)  # checks before anything is stored
        now = int(time.time() * 1000)
        with storage_errors():
            async with self.storage.transaction() as tx:
                await tx.execute("DELETE FROM search_synonyms")
                if groups:
                    await tx.executemany(SYNONYM_SQL, [
                        (i, orjson.dumps(list(phrases)).decode(), int(one_way), now)
                        for i, (phrases, one_way) in enumerate(groups)
                    ])
        self.index.set_synonyms(groups)
        await self.kv.delete_namespace(AUTOCOMPLETE_NS)
        await self.kv.publish(SYNONYMS_CHANNEL, orjson.dumps({"node": self.node_id}))
        log.info("synonyms set: %d groups", len(groups), extra={"event": "search.synonyms"})

    async def _load_synonyms(self) -> None:
        rows = await self.storage.fetch("SELECT phrases, one_way FROM search_synonyms ORDER BY position")
        groups = []
        for row in rows:
            try:
                phrases = orjson.loads(row["phrases"])
                groups.append((tuple(str(p) for p in phrases), bool(row["one_way"])))
            except (orjson.JSONDecodeError, TypeError):  # a row the index refuses must not stop the rest
                log.warning("ignoring a stored synonym group", exc_info=True)
        self.index.set_synonyms(groups)

    async def _add_correction(self, msg: AddCorrection) -> None:
        probe = SearchIndex()
        probe.add_correction(msg.misspelled, msg.corrected)  # validates before anything is stored
        with storage_errors():
            await self.storage.execute(CORRECTION_SQL, msg.misspelled, msg.corrected, int(time.time() * 1000))
        self.index.add_correction(msg.misspelled, msg.corrected)
        await self.kv.delete_namespace(AUTOCOMPLETE_NS)
        await self.kv.publish(CORRECTIONS_CHANNEL, orjson.dumps({"node": self.node_id}))
        log.info("learned correction %r -> %r", msg.misspelled, msg.corrected,
                 extra={"event": "search.correction"})

    async def _reload(self, ids: tuple[str, ...]) -> None:
        with storage_errors():
            items = await store.get_many(self.storage, ids)
        found = {i.id for i in items}
        for item in items:
            self.index.upsert(item)
        for missing in set(ids) - found:
            self.index.remove(missing)
        await self.kv.delete_namespace(AUTOCOMPLETE_NS)

    async def _rebuild(self) -> None:
        started = time.perf_counter()
        items = [item async for item in store.iterate_all(self.storage)]
        # Building 100,000 titles takes seconds of pure Python: do it off the event loop.
        index = await trio.to_thread.run_sync(SearchIndex, items)
        self.index = self.live.index = index
        # The index is hundreds of thousands of long-lived objects; moving them out of
        # the collector's generations keeps later collections from pausing ~100 ms.
        gc.freeze()
        await self._load_corrections()
        await self._load_synonyms()
        await self.kv.delete_namespace(AUTOCOMPLETE_NS)
        log.info("search index built: %d titles in %.2f s", len(items), time.perf_counter() - started,
                 extra={"event": "search.built", "titles": len(items)})

    async def _load_corrections(self) -> None:
        rows = await self.storage.fetch("SELECT misspelled, corrected FROM spell_corrections ORDER BY created_at")
        for row in rows:
            try:
                self.index.add_correction(row["misspelled"], row["corrected"])
            except Exception:  # a row the index refuses must not stop the rest
                log.warning("ignoring stored correction %r", row["misspelled"], exc_info=True)

    async def _follow(self, channel: str) -> None:
        """Turn another node's change notices into messages to this actor."""
        async with self.kv.subscribe(channel) as sub:
            async for notice in from_other_nodes(sub, self.node_id):
                if notice is MISSED:
                    await self.ref.tell(Rebuild())
                elif channel == CORRECTIONS_CHANNEL:
                    await self.ref.tell(ReloadCorrections())
                elif channel == SYNONYMS_CHANNEL:
                    await self.ref.tell(ReloadSynonyms())
                elif isinstance(notice.get("ids"), list):
                    await self.ref.tell(Reload(tuple(str(i) for i in notice["ids"])))

