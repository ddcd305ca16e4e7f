"""`content.upsert`, `content.get`, `content.list`, `content.episodes`."""

from __future__ import annotations

from typing import Any

from actors.catalog import CatalogDomain
from actors.catalog.model import EPISODE_MAX, ID_MAX, SEASON_MAX, ContentItem
from actors.errors import InvalidParams
from protocol.calls import Call
from protocol.methods import Access, method
from protocol.paging import PAGING_SCHEMA

MAX_UPSERT = 1000

CONTENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "id": {"type": "string"}, "title": {"type": "string"},
        "type": {"enum": ["movie", "series", "episode"]}, "year": {"type": "integer"},
        "genres": {"type": "array", "items": {"type": "string"}},
        "platforms": {"type": "array", "items": {"type": "string"}},
        "rating": {"type": "number", "minimum": 0, "maximum": 10},
        "popularity": {"type": "number", "minimum": 0}, "duration_ms": {"type": "integer", "minimum": 0},
        "series_id": {"type": ["string", "null"], "description": "an episode's series (an item of type series)"},
        "season": {"type": ["integer", "null"], "minimum": 1, "maximum": SEASON_MAX},
        "episode": {"type": ["integer", "null"], "minimum": 1, "maximum": EPISODE_MAX},
    },
}
PAGE_INFO = {"type": "object"}


async def upsert(call: Call[CatalogDomain]) -> dict[str, Any]:
    items = []
    problems: list[tuple[str, str]] = []
    for i, entry in enumerate(call.params["items"]):
        try:
            items.append(ContentItem.from_dict(entry, prefix=f"items[{i}]."))
        except InvalidParams as exc:
            problems.extend((e["field"], e["message"]) for e in exc.errors)
    if problems:
        raise InvalidParams(*problems[0], *problems[1:50])
    ids = [item.id for item in items]
    if len(set(ids)) != len(ids):
        raise InvalidParams("items", "the same id appears twice")
    return {"upserted": await call.domain.upsert(items)}


async def get(call: Call[CatalogDomain]) -> dict[str, Any]:
    return (await call.domain.item(call.params["id"])).to_dict()


async def list_(call: Call[CatalogDomain]) -> dict[str, Any]:
    sort = call.params.get("sort", "popularity")
    listing = call.listing(f"content.list:{sort}")
    found = await call.domain.list(listing.page, sort)
    return {"items": [i.to_dict() for i in found.items], "page_info": listing.info(found)}


async def episodes(call: Call[CatalogDomain]) -> dict[str, Any]:
    series_id = call.params["series_id"]
    listing = call.listing(f"content.episodes:{series_id}")
    found = await call.domain.episodes(series_id, listing.page)
    return {"items": [i.to_dict() for i in found.items], "page_info": listing.info(found)}


METHODS = [
    method("content.upsert", upsert, access=Access.ADMIN, summary="Create or replace content items",
           params={"type": "object", "properties": {
               "items": {"type": "array", "minItems": 1, "maxItems": MAX_UPSERT, "items": CONTENT_SCHEMA}},
               "required": ["items"], "additionalProperties": False},
           result={"type": "object", "properties": {"upserted": {"type": "integer"}}}),
    method("content.get", get, summary="One content item by id",
           params={"type": "object", "properties": {"id": {"type": "string", "minLength": 1, "maxLength": 128}},
                   "required": ["id"], "additionalProperties": False},
           result=CONTENT_SCHEMA),
    method("content.list", list_, summary="The catalog, paged, by popularity, title or year",
           params={"type": "object", "properties": {
               **PAGING_SCHEMA, "sort": {"enum": ["popularity", "title", "year"]}},
               "additionalProperties": False},
           result={"type": "object", "properties": {"items": {"type": "array", "items": CONTENT_SCHEMA},
                                                     "page_info": PAGE_INFO}}),
    method("content.episodes", episodes, summary="The episodes of a series, paged, in season and episode order",
           params={"type": "object", "properties": {
               **PAGING_SCHEMA, "series_id": {"type": "string", "minLength": 1, "maxLength": ID_MAX}},
               "required": ["series_id"], "additionalProperties": False},
           result={"type": "object", "properties": {"items": {"type": "array", "items": CONTENT_SCHEMA},
                                                     "page_info": PAGE_INFO}}),
]
