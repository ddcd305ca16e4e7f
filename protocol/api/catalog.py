"""`content.upsert`, `content.get`, `content.list`."""

from __future__ import annotations

from typing import Any

from actors.catalog.actor import CatalogActor
from actors.catalog.messages import GetContent, ListContent, Upsert
from actors.catalog.model import ContentItem
from actors.errors import InvalidParams
from actors.paging import PAGING_SCHEMA, KeysetPage, Page, parse_page
from actors.search.messages import GetItem, ListItems
from protocol.methods import Access, MethodTable
from runtime import ActorStopped, AskTimeout, ChildSpec, Overloaded

MAX_UPSERT = 1000
NAME = "catalog"
SEARCH = "search"
INDEX_TIMEOUT = 0.2
"""Seconds a read waits for the search index before it reads storage instead."""

CONTENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "id": {"type": "string"}, "title": {"type": "string"},
        "type": {"enum": ["movie", "series", "episode"]}, "year": {"type": "integer"},
        "genres": {"type": "array", "items": {"type": "string"}},
        "platforms": {"type": "array", "items": {"type": "string"}},
        "rating": {"type": "number", "minimum": 0, "maximum": 10},
        "popularity": {"type": "number", "minimum": 0}, "duration_ms": {"type": "integer", "minimum": 0},
    },
}
PAGE_INFO = {"type": "object"}


def children(services: Any) -> list[ChildSpec]:
    return [ChildSpec(NAME, lambda: CatalogActor(services.storage, services.kv, services.registry, services.node_id))]


async def content_item(services: Any, content_id: str) -> ContentItem:
    """One content item: the search index's in-memory copy, so a read costs no database
    round trip, else the catalog actor's read of storage (`NotFound` if neither has it).

    The index follows every write made on this node before the write is answered (the
    catalog tells the search actor before it replies, and the search mailbox is first
    in, first out), and writes of other nodes within a pub/sub delivery. Anything it
    lacks, or an index that is busy, full or not running, falls back to storage. The
    index is asked from the caller's task, not from the catalog actor's: a busy index
    delays this read by at most `INDEX_TIMEOUT`, never the catalog's other requests."""
    search = services.registry.get(SEARCH)
    if search is not None:
        try:
            item = await search.ask(GetItem(content_id), timeout=INDEX_TIMEOUT, wait=False)
        except (Overloaded, AskTimeout, ActorStopped):
            item = None
        if item is not None:
            return item
    return await services.actor(NAME).ask(GetContent(content_id))


async def content_page(services: Any, page: Page, sort: str) -> tuple[list[ContentItem], Any]:
    """A `content.list` page from the search index's copy of the catalog, like
    `content_item` (and as fresh), else from storage through the catalog actor."""
    search = services.registry.get(SEARCH)
    if search is not None:
        try:
            return await search.ask(ListItems(page, sort), timeout=INDEX_TIMEOUT, wait=False)
        except (Overloaded, AskTimeout, ActorStopped):
            pass
    return await services.actor(NAME).ask(ListContent(page, sort))


def register(table: MethodTable, services: Any) -> None:
    async def upsert(params: dict, ctx: Any) -> dict:
        raw = params["items"]
        items = []
        problems: list[tuple[str, str]] = []
        for i, entry in enumerate(raw):
            try:
                items.append(ContentItem.from_dict(entry, prefix=f"items[{i}]."))
            except InvalidParams as exc:
                problems.extend((e["field"], e["message"]) for e in exc.errors)
        if problems:
            raise InvalidParams(*problems[0], *problems[1:50])
        ids = [item.id for item in items]
        if len(set(ids)) != len(ids):
            raise InvalidParams("items", "the same id appears twice")
        upserted = await services.actor(NAME).ask(Upsert(tuple(items)), timeout=30)
        return {"upserted": upserted}

    async def get(params: dict, ctx: Any) -> dict:
        return (await content_item(services, params["id"])).to_dict()

    async def list_(params: dict, ctx: Any) -> dict:
        sort = params.get("sort", "popularity")
        scope = f"content.list:{sort}"
        page = parse_page(params, services.cursors, scope)
        items, info = await content_page(services, page, sort)
        if isinstance(page, KeysetPage):
            info = KeysetPage.info(info, services.cursors, scope)
        return {"items": [i.to_dict() for i in items], "page_info": info}

    table.add("content.upsert", upsert, access=Access.ADMIN, summary="Create or replace content items",
              params={"type": "object", "properties": {
                  "items": {"type": "array", "minItems": 1, "maxItems": MAX_UPSERT, "items": CONTENT_SCHEMA}},
                  "required": ["items"], "additionalProperties": False},
              result={"type": "object", "properties": {"upserted": {"type": "integer"}}})
    table.add("content.get", get, summary="One content item by id",
              params={"type": "object", "properties": {"id": {"type": "string", "minLength": 1, "maxLength": 128}},
                      "required": ["id"], "additionalProperties": False},
              result=CONTENT_SCHEMA)
    table.add("content.list", list_, summary="The catalog, paged, by popularity, title or year",
              params={"type": "object", "properties": {
                  **PAGING_SCHEMA, "sort": {"enum": ["popularity", "title", "year"]}},
                  "additionalProperties": False},
              result={"type": "object", "properties": {"items": {"type": "array", "items": CONTENT_SCHEMA},
                                                        "page_info": PAGE_INFO}})
