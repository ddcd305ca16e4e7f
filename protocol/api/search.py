"""`search.query`, `search.autocomplete`, `search.corrections.add`, `search.synonyms.set`."""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

from actors.search import AUTOCOMPLETE_MAX, SearchDomain
from actors.search.messages import Synonym
from actors.search.readings import SYNONYM_GROUPS_MAX, SYNONYM_PHRASES_MAX
from protocol.api.catalog import CONTENT_ITEM, EXAMPLE_ITEMS
from protocol import errors
from protocol.answers import Answers, params_key
from protocol.calls import Call
from protocol.item_json import hit_fragments
from protocol.methods import Access, Example, Schema, method
from protocol.paging import PAGE_INFO_SCHEMA, PAGING_SCHEMA

SCOPE = "search.query"
DEFAULT_SUGGESTIONS = 10
ANSWERS_MAX_BYTES = 16 << 20
"""Encoded search.query answers kept until the index changes (a few kB each)."""
_answers = Answers(ANSWERS_MAX_BYTES)

STRINGS = {"type": "array", "items": {"type": "string", "maxLength": 64}, "maxItems": 50}
YEAR = {"type": "integer", "minimum": 0, "maximum": 9999}
RATING = {"type": "number", "minimum": 0, "maximum": 10}
FILTERS_SCHEMA: Schema = {
    "title": "SearchFilters",
    "type": "object",
    "properties": {
        "genres": STRINGS, "platforms": STRINGS,
        "type": {"oneOf": [{"enum": ["movie", "series", "episode"]},
                           {"type": "array", "maxItems": 3, "items": {"enum": ["movie", "series", "episode"]}}]},
        "year_min": YEAR, "year_max": YEAR, "rating_min": RATING, "rating_max": RATING,
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
HIGHLIGHTS = {"type": "array", "items": {
    "title": "Highlight", "type": "object", "description": "a range of the title in code points, end exclusive",
    "properties": {"start": {"type": "integer"}, "end": {"type": "integer"}}, "required": ["start", "end"]}}
CORRECTIONS = {"type": "array", "description": "what the top hit's reading changed in the query; [] when nothing",
               "items": {"title": "Correction", "type": "object",
                         "description": "a typed word and the word it was read as (a typo or a learned correction)",
                         "properties": {"from": {"type": "string"}, "to": {"type": "string"}},
                         "required": ["from", "to"]}}
CORRECTED_QUERY = {"type": ["string", "null"], "description": "the query as read for the top hit; null when unchanged"}
SEARCH_HIT: Schema = {**CONTENT_ITEM, "title": "SearchHit", "description": "a content item and the ranges of its "
                      "title that matched", "properties": {**CONTENT_ITEM["properties"], "highlights": HIGHLIGHTS},
                      "required": [*CONTENT_ITEM["required"], "highlights"]}
SUGGESTION = {"title": "Suggestion", "type": "object", "properties": {
    "text": {"type": "string"}, "score": {"type": "number"}, "type": {"type": "string"},
    "content_id": {"type": "string"}, "highlights": HIGHLIGHTS}, "required": ["text", "score", "type", "highlights"]}
SYNONYM_GROUP = {"title": "SynonymGroup", "type": "object",
                 "description": "every phrase stands for every other; with one_way, the first for the rest only",
                 "properties": {
                     "words": {"type": "array", "minItems": 2, "maxItems": SYNONYM_PHRASES_MAX,
                               "items": {"type": "string", "minLength": 1, "maxLength": 200}},
                     "one_way": {"type": "boolean"}},
                 "required": ["words"], "additionalProperties": False}


async def query(call: Call[SearchDomain]) -> object:
    """The answer kept for these params while the index is unchanged, else made and kept
    (see protocol.answers); made afresh while reads ask the search actor."""
    version = call.domain.version()
    if version is None:
        return await _query(call)
    kept_under = (version, call.cursors)  # its cursors are only good where they were signed
    key = params_key(call.params)
    raw = _answers.get(kept_under, key)
    if raw is None:
        raw = orjson.dumps(await _query(call))
        _answers.put(kept_under, key, raw)
    return orjson.Fragment(raw)


async def _query(call: Call[SearchDomain]) -> dict[str, object]:
    params = call.params
    listing = call.listing(SCOPE + ":" + _query_key(params))
    include_facets = params.get("include_facets", False)
    found = await call.domain.query(params["query"], params.get("filters"), listing.page, include_facets)
    answer: dict[str, object] = {"items": hit_fragments(found.hits.items, found.highlights),
                                 "total": found.hits.total, "page_info": listing.info(found.hits),
                                 "corrected_query": found.corrected_query, "corrections": found.corrections}
    if include_facets:
        answer["facets"] = found.facets
    return answer


async def autocomplete(call: Call[SearchDomain]) -> dict[str, object]:
    limit = call.params.get("limit", DEFAULT_SUGGESTIONS)
    return await call.domain.autocomplete(call.params["q"], limit)


async def add_correction(call: Call[SearchDomain]) -> dict[str, object]:
    await call.domain.add_correction(call.params["misspelled"], call.params["corrected"])
    return {"ok": True}


async def set_synonyms(call: Call[SearchDomain]) -> dict[str, object]:
    await call.domain.set_synonyms([Synonym(tuple(g["words"]), bool(g.get("one_way", False)))
                                    for g in call.params["synonyms"]])
    return {"ok": True}


def _query_key(params: dict[str, Any]) -> str:
    """Binds a cursor to the query and filters it was made for."""
    raw = orjson.dumps([params["query"], params.get("filters")], option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(raw).hexdigest()[:16]


EXAMPLE_HIT = {**EXAMPLE_ITEMS[0], "highlights": [{"start": 0, "end": 3}, {"start": 4, "end": 10}]}

METHODS = [
    method("search.query", query, summary="Full-text search with typo tolerance, filters and facets",
           params={"type": "object", "properties": {
               "query": {"type": "string", "maxLength": 500},
               "filters": FILTERS_SCHEMA,
               "include_facets": {"type": "boolean"},
               **PAGING_SCHEMA},
               "required": ["query"], "additionalProperties": False},
           result={"type": "object", "properties": {
               "items": {"type": "array", "items": SEARCH_HIT}, "total": {"type": "integer"},
               "page_info": PAGE_INFO_SCHEMA, "corrected_query": CORRECTED_QUERY, "corrections": CORRECTIONS,
               "facets": FACETS}, "required": ["items", "total", "page_info", "corrected_query", "corrections"]},
           examples=[Example("a typo, corrected", {"query": "teh matrix", "limit": 5},
                             {"items": [EXAMPLE_HIT], "total": 1,
                              "page_info": {"has_next_page": False, "next_cursor": None},
                              "corrected_query": "the matrix", "corrections": [{"from": "teh", "to": "the"}]}),
                     Example("filters and facets", {"query": "", "filters": {"genres": ["Sci-Fi"]},
                                                    "include_facets": True, "page": 1, "page_size": 1},
                             {"items": [{**EXAMPLE_ITEMS[0], "highlights": []}], "total": 2,
                              "page_info": {"page": 1, "page_size": 1, "total": 2, "total_pages": 2,
                                            "has_next_page": True},
                              "corrected_query": None, "corrections": [],
                              "facets": {"genres": [{"value": "Sci-Fi", "count": 2}, {"value": "Action", "count": 1},
                                                    {"value": "Comedy", "count": 1}, {"value": "Drama", "count": 1},
                                                    {"value": "Romance", "count": 1}],
                                         "platforms": [{"value": "netflix", "count": 2}],
                                         "year_range": {"min": 1999, "max": 2017},
                                         "rating_range": {"min": 8.7, "max": 8.8}}})]),
    method("search.autocomplete", autocomplete, summary="Title suggestions for a prefix, most popular first",
           params={"type": "object", "properties": {
               "q": {"type": "string", "maxLength": 200},
               "limit": {"type": "integer", "minimum": 1, "maximum": AUTOCOMPLETE_MAX}},
               "required": ["q"], "additionalProperties": False},
           result={"type": "object", "properties": {
               "suggestions": {"type": "array", "items": SUGGESTION},
               "corrected_query": CORRECTED_QUERY, "corrections": CORRECTIONS},
               "required": ["suggestions", "corrected_query", "corrections"]},
           examples=[Example("a prefix", {"q": "mat", "limit": 5},
                             {"suggestions": [{"text": "The Matrix", "score": 0.698932, "type": "title",
                                               "content_id": "m-matrix", "highlights": [{"start": 4, "end": 7}]}],
                              "corrected_query": None, "corrections": []}),
                     Example("a typo in a whole word", {"q": "amelei ", "limit": 5},
                             {"suggestions": [{"text": "Amélie", "score": 0.194407, "type": "title",
                                               "content_id": "m-amelie", "highlights": [{"start": 0, "end": 6}]}],
                              "corrected_query": "amelie", "corrections": [{"from": "amelei", "to": "amelie"}]})]),
    method("search.corrections.add", add_correction, access=Access.ADMIN,
           summary="Teach a spelling correction; it wins over computed ones",
           params={"type": "object", "properties": {
               "misspelled": {"type": "string", "minLength": 1, "maxLength": 200},
               "corrected": {"type": "string", "minLength": 1, "maxLength": 200}},
               "required": ["misspelled", "corrected"], "additionalProperties": False},
           result={"type": "object", "properties": {"ok": {"const": True}}, "required": ["ok"]},
           errors=[errors.TIMED_OUT],
           examples=[Example("teach a correction", {"misspelled": "matirx", "corrected": "matrix"}, {"ok": True})]),
    method("search.synonyms.set", set_synonyms, access=Access.ADMIN,
           summary="Replace the synonym groups (multi-way, or one-way from the first phrase)",
           params={"type": "object", "properties": {
               "synonyms": {"type": "array", "maxItems": SYNONYM_GROUPS_MAX, "items": SYNONYM_GROUP}},
               "required": ["synonyms"], "additionalProperties": False},
           result={"type": "object", "properties": {"ok": {"const": True}}, "required": ["ok"]},
           errors=[errors.TIMED_OUT],
           examples=[Example("a multi-way and a one-way group",
                             {"synonyms": [{"words": ["sci-fi", "science fiction"]},
                                           {"words": ["lotr", "the lord of the rings"], "one_way": True}]},
                             {"ok": True}),
                     Example("no synonyms", {"synonyms": []}, {"ok": True})]),
]
