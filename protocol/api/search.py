"""`search.query`, `search.autocomplete`, `search.corrections.add`."""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

from actors.search import SearchDomain
from actors.search.index import AUTOCOMPLETE_MAX
from protocol.api.catalog import CONTENT_ITEM, EXAMPLE_ITEMS
from protocol import errors
from protocol.calls import Call
from protocol.methods import Access, Example, Schema, method
from protocol.paging import PAGE_INFO_SCHEMA, PAGING_SCHEMA

SCOPE = "search.query"
DEFAULT_SUGGESTIONS = 10

STRINGS = {"type": "array", "items": {"type": "string", "maxLength": 64}, "maxItems": 50}
FILTERS_SCHEMA: Schema = {
    "title": "SearchFilters",
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
RANGE = {"type": ["object", "null"], "properties": {"min": {"type": "number"}, "max": {"type": "number"}},
         "required": ["min", "max"], "description": "null when nothing matches"}
COUNTS = {"type": "array", "items": {"title": "FacetCount", "type": "object", "properties": {
    "value": {"type": "string"}, "count": {"type": "integer"}}, "required": ["value", "count"]}}
FACETS = {"title": "Facets", "type": "object", "description": "each group counted under every other active filter",
          "properties": {"genres": COUNTS, "platforms": COUNTS, "year_range": RANGE, "rating_range": RANGE},
          "required": ["genres", "platforms", "year_range", "rating_range"]}
SUGGESTION = {"title": "Suggestion", "type": "object", "properties": {
    "text": {"type": "string"}, "score": {"type": "number"}, "type": {"type": "string"},
    "content_id": {"type": "string"}}, "required": ["text", "score", "type"]}


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
               "items": {"type": "array", "items": CONTENT_ITEM}, "total": {"type": "integer"},
               "page_info": PAGE_INFO_SCHEMA, "corrected_query": {"type": ["string", "null"]},
               "facets": FACETS}, "required": ["items", "total", "page_info", "corrected_query"]},
           examples=[Example("a typo, corrected", {"query": "teh matrix", "limit": 5},
                             {"items": [EXAMPLE_ITEMS[0]], "total": 1,
                              "page_info": {"has_next_page": False, "next_cursor": None},
                              "corrected_query": "the matrix"}),
                     Example("filters and facets", {"query": "", "filters": {"genres": ["Sci-Fi"]},
                                                    "include_facets": True, "page": 1, "page_size": 1},
                             {"items": [EXAMPLE_ITEMS[0]], "total": 2,
                              "page_info": {"page": 1, "page_size": 1, "total": 2, "total_pages": 2,
                                            "has_next_page": True},
                              "corrected_query": None,
                              "facets": {"genres": [{"value": "Sci-Fi", "count": 2}, {"value": "Action", "count": 1},
                                                    {"value": "Drama", "count": 1}],
                                         "platforms": [{"value": "netflix", "count": 2}],
                                         "year_range": {"min": 1999, "max": 2017},
                                         "rating_range": {"min": 8.7, "max": 8.8}}})]),
    method("search.autocomplete", autocomplete, summary="Title suggestions for a prefix, most popular first",
           params={"type": "object", "properties": {
               "q": {"type": "string", "maxLength": 200},
               "limit": {"type": "integer", "minimum": 1, "maximum": AUTOCOMPLETE_MAX}},
               "required": ["q"], "additionalProperties": False},
           result={"type": "object", "properties": {"suggestions": {"type": "array", "items": SUGGESTION}},
                   "required": ["suggestions"]},
           examples=[Example("a prefix", {"q": "mat", "limit": 5},
                             {"suggestions": [{"text": "The Matrix", "score": 0.97, "type": "title",
                                               "content_id": "m-matrix"}]})]),
    method("search.corrections.add", add_correction, access=Access.ADMIN,
           summary="Teach a spelling correction; it wins over computed ones",
           params={"type": "object", "properties": {
               "misspelled": {"type": "string", "minLength": 1, "maxLength": 200},
               "corrected": {"type": "string", "minLength": 1, "maxLength": 200}},
               "required": ["misspelled", "corrected"], "additionalProperties": False},
           result={"type": "object", "properties": {"ok": {"const": True}}, "required": ["ok"]},
           errors=[errors.TIMED_OUT],
           examples=[Example("teach a correction", {"misspelled": "matirx", "corrected": "matrix"}, {"ok": True})]),
]
