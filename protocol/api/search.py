"""`search.query`, `search.autocomplete`, `search.corrections.add`."""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

from actors.search import SearchDomain
from actors.search.index import AUTOCOMPLETE_MAX
from protocol.api.catalog import CONTENT_SCHEMA
from protocol.calls import Call
from protocol.methods import Access, Schema, method
from protocol.paging import PAGING_SCHEMA

SCOPE = "search.query"
DEFAULT_SUGGESTIONS = 10

STRINGS = {"type": "array", "items": {"type": "string", "maxLength": 64}, "maxItems": 50}
FILTERS_SCHEMA: Schema = {
    "type": "object",
    "properties": {
        "genres": STRINGS, "platforms": STRINGS,
        "type": {"oneOf": [{"enum": ["movie", "series", "episode"]},
                           {"type": "array", "items": {"enum": ["movie", "series", "episode"]}}]},
        "year_min": {"type": "integer"}, "year_max": {"type": "integer"},
        "rating_min": {"type": "number"}, "rating_max": {"type": "number"},
    },
    "additionalProperties": False,
}
RANGE = {"type": ["object", "null"], "properties": {"min": {"type": "number"}, "max": {"type": "number"}}}
COUNTS = {"type": "array", "items": {"type": "object", "properties": {"value": {"type": "string"},
                                                                      "count": {"type": "integer"}}}}


async def query(call: Call[SearchDomain]) -> dict[str, object]:
    params = call.params
    listing = call.listing(SCOPE + ":" + _query_key(params))
    include_facets = params.get("include_facets", False)
    found = await call.domain.query(params["query"], params.get("filters"), listing.page, include_facets)
    answer: dict[str, object] = {"items": [i.to_dict() for i in found.hits.items], "total": found.hits.total,
                              "page_info": listing.info(found.hits), "corrected_query": found.corrected_query}
    if include_facets:
        answer["facets"] = found.facets
    return answer


async def autocomplete(call: Call[SearchDomain]) -> dict[str, object]:
    limit = call.params.get("limit", DEFAULT_SUGGESTIONS)
    return {"suggestions": await call.domain.autocomplete(call.params["q"], limit)}


async def add_correction(call: Call[SearchDomain]) -> dict[str, object]:
    await call.domain.add_correction(call.params["misspelled"], call.params["corrected"])
    return {"ok": True}


def _query_key(params: dict[str, Any]) -> str:
    """Binds a cursor to the query and filters it was made for."""
    raw = orjson.dumps([params["query"], params.get("filters")], option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(raw).hexdigest()[:16]


METHODS = [
    method("search.query", query, summary="Full-text search with typo tolerance, filters and facets",
           params={"type": "object", "properties": {
               "query": {"type": "string", "maxLength": 500},
               "filters": FILTERS_SCHEMA,
               "include_facets": {"type": "boolean"},
               **PAGING_SCHEMA},
               "required": ["query"], "additionalProperties": False},
           result={"type": "object", "properties": {
               "items": {"type": "array", "items": CONTENT_SCHEMA}, "total": {"type": "integer"},
               "page_info": {"type": "object"}, "corrected_query": {"type": ["string", "null"]},
               "facets": {"type": "object", "properties": {"genres": COUNTS, "platforms": COUNTS,
                                                           "year_range": RANGE, "rating_range": RANGE}}}}),
    method("search.autocomplete", autocomplete, summary="Title suggestions for a prefix, most popular first",
           params={"type": "object", "properties": {
               "q": {"type": "string", "maxLength": 200},
               "limit": {"type": "integer", "minimum": 1, "maximum": AUTOCOMPLETE_MAX}},
               "required": ["q"], "additionalProperties": False},
           result={"type": "object", "properties": {"suggestions": {"type": "array", "items": {
               "type": "object", "properties": {"text": {"type": "string"}, "score": {"type": "number"},
                                                "type": {"type": "string"}, "content_id": {"type": "string"}}}}}}),
    method("search.corrections.add", add_correction, access=Access.ADMIN,
           summary="Teach a spelling correction; it wins over computed ones",
           params={"type": "object", "properties": {
               "misspelled": {"type": "string", "minLength": 1, "maxLength": 200},
               "corrected": {"type": "string", "minLength": 1, "maxLength": 200}},
               "required": ["misspelled", "corrected"], "additionalProperties": False},
           result={"type": "object", "properties": {"ok": {"const": True}}}),
]
