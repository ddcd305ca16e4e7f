"""`content.upsert`, `content.get`, `content.list`, `content.episodes`."""

from __future__ import annotations

from actors.catalog import CatalogDomain
from actors.catalog.model import (DURATION_MAX, EPISODE_MAX, ID_MAX, LABEL_MAX, LABELS_MAX, POPULARITY_MAX,
                                   SEASON_MAX, TITLE_MAX, YEAR_MAX, YEAR_MIN, ContentItem)
from actors.errors import InvalidParams
from protocol import errors
from protocol.calls import Call
from protocol.item_json import array, fragments
from protocol.methods import Access, Example, Schema, checked_by_domain, method
from protocol.paging import PAGE_INFO_SCHEMA, PAGING_SCHEMA

MAX_UPSERT = 1000

_LABELS = {"type": "array", "maxItems": LABELS_MAX, "items": {"type": "string", "minLength": 1, "maxLength": LABEL_MAX}}
_CONTENT_PROPERTIES: Schema = {
    "id": {"type": "string", "minLength": 1, "maxLength": ID_MAX},
    "title": {"type": "string", "minLength": 1, "maxLength": TITLE_MAX},
    "type": {"enum": ["movie", "series", "episode"]},
    "year": {"type": "integer", "minimum": YEAR_MIN, "maximum": YEAR_MAX},
    "genres": _LABELS, "platforms": _LABELS,
    "rating": {"type": "number", "minimum": 0, "maximum": 10},
    "popularity": {"type": "number", "minimum": 0, "maximum": POPULARITY_MAX},
    "duration_ms": {"type": "integer", "minimum": 0, "maximum": DURATION_MAX, "description": "at most a year"},
    "series_id": {"type": ["string", "null"], "minLength": 1, "maxLength": ID_MAX,
                  "description": "an episode's series (an item of type series)"},
    "season": {"type": ["integer", "null"], "minimum": 1, "maximum": SEASON_MAX},
    "episode": {"type": ["integer", "null"], "minimum": 1, "maximum": EPISODE_MAX},
}
_EPISODE_FIELDS = ("series_id", "season", "episode")  # only an episode placed in a series has them
# Validated loosely: ContentItem.from_dict reports every bad field of every item.
CONTENT_SCHEMA: Schema = checked_by_domain(
    {"title": "ContentItemInput", "type": "object", "properties": _CONTENT_PROPERTIES,
     "required": ["id", "title", "type", "year"],
     "description": "genres and platforms default to [], rating, popularity and duration_ms to 0"},
    {"type": "object", "properties": {
        "id": {"type": "string"}, "title": {"type": "string"},
        "type": {"enum": ["movie", "series", "episode"]}, "year": {"type": "integer"},
        "genres": {"type": "array", "items": {"type": "string"}},
        "platforms": {"type": "array", "items": {"type": "string"}},
        "rating": {"type": "number", "minimum": 0, "maximum": 10},
        "popularity": {"type": "number", "minimum": 0}, "duration_ms": {"type": "integer", "minimum": 0},
        "series_id": {"type": ["string", "null"]}, "season": {"type": ["integer", "null"]},
        "episode": {"type": ["integer", "null"]}}})
CONTENT_ITEM: Schema = {"title": "ContentItem", "type": "object", "properties": _CONTENT_PROPERTIES,
                        "required": [name for name in _CONTENT_PROPERTIES if name not in _EPISODE_FIELDS]}
"""A content item as results carry it."""
PAGE_INFO = PAGE_INFO_SCHEMA

EXAMPLE_ITEMS: list[dict[str, object]] = [
    {"id": "m-matrix", "title": "The Matrix", "type": "movie", "year": 1999, "genres": ["Action", "Sci-Fi"],
     "platforms": ["netflix"], "rating": 8.7, "popularity": 95.0, "duration_ms": 8_160_000},
    {"id": "m-amelie", "title": "Amélie", "type": "movie", "year": 2001, "genres": ["Comedy", "Romance"],
     "platforms": ["prime"], "rating": 8.3, "popularity": 80.0, "duration_ms": 7_320_000},
    {"id": "s-dark", "title": "Dark", "type": "series", "year": 2017, "genres": ["Drama", "Sci-Fi"],
     "platforms": ["netflix"], "rating": 8.8, "popularity": 90.0, "duration_ms": 0},
]
"""The catalog the examples of every domain refer to (content.upsert's example)."""


async def upsert(call: Call[CatalogDomain]) -> dict[str, object]:
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


async def get(call: Call[CatalogDomain]) -> dict[str, object]:
    return (await call.domain.item(call.params["id"])).to_dict()


async def list_(call: Call[CatalogDomain]) -> dict[str, object]:
    sort = call.params.get("sort", "popularity")
    listing = call.listing(f"content.list:{sort}")
    found = await call.domain.list(listing.page, sort)
    return {"items": array(found.items), "page_info": listing.info(found)}


async def episodes(call: Call[CatalogDomain]) -> dict[str, object]:
    series_id = call.params["series_id"]
    listing = call.listing(f"content.episodes:{series_id}")
    found = await call.domain.episodes(series_id, listing.page)
    return {"items": fragments(found.items), "page_info": listing.info(found)}


METHODS = [
    method("content.upsert", upsert, access=Access.ADMIN, summary="Create or replace content items",
           params={"type": "object", "properties": {
               "items": {"type": "array", "minItems": 1, "maxItems": MAX_UPSERT, "items": CONTENT_SCHEMA}},
               "required": ["items"], "additionalProperties": False},
           result={"type": "object", "properties": {"upserted": {"type": "integer"}}, "required": ["upserted"]},
           errors=[errors.TIMED_OUT],
           examples=[Example("the example catalog", {"items": EXAMPLE_ITEMS}, {"upserted": 3})]),
    method("content.get", get, summary="One content item by id",
           params={"type": "object", "properties": {"id": {"type": "string", "minLength": 1, "maxLength": 128}},
                   "required": ["id"], "additionalProperties": False},
           result=CONTENT_ITEM, errors=[errors.NOT_FOUND],
           examples=[Example("a movie", {"id": "m-matrix"}, EXAMPLE_ITEMS[0])]),
    method("content.list", list_, inline=True, summary="The catalog, paged, by popularity, title or year",
           params={"type": "object", "properties": {
               **PAGING_SCHEMA, "sort": {"enum": ["popularity", "title", "year"]}},
               "additionalProperties": False},
           result={"type": "object", "properties": {"items": {"type": "array", "items": CONTENT_ITEM},
                                                     "page_info": PAGE_INFO}, "required": ["items", "page_info"]},
           errors=[errors.TIMED_OUT],
           examples=[Example("first page by title", {"page": 1, "page_size": 2, "sort": "title"},
                             {"items": [EXAMPLE_ITEMS[1], EXAMPLE_ITEMS[2]],
                              "page_info": {"page": 1, "page_size": 2, "total": 3, "total_pages": 2,
                                            "has_next_page": True}}),
                     Example("keyset paging", {"limit": 1},
                             {"items": [EXAMPLE_ITEMS[0]],
                              "page_info": {"has_next_page": True, "next_cursor": "WyJjb250ZW50Lmxpc3Q6cG9wdWxhcml0eSJd.c2ln"}})]),
    method("content.episodes", episodes, summary="The episodes of a series, paged, in season and episode order",
           params={"type": "object", "properties": {
               **PAGING_SCHEMA, "series_id": {"type": "string", "minLength": 1, "maxLength": ID_MAX}},
               "required": ["series_id"], "additionalProperties": False},
           result={"type": "object", "properties": {"items": {"type": "array", "items": CONTENT_ITEM},
                                                     "page_info": PAGE_INFO}, "required": ["items", "page_info"]},
           errors=[errors.NOT_FOUND, errors.TIMED_OUT],
           examples=[Example("a series without episodes yet", {"series_id": "s-dark"},
                             {"items": [], "page_info": {"page": 1, "page_size": 20, "total": 0, "total_pages": 0,
                                                         "has_next_page": False}})]),
]
