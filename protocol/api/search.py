"""`search.query`, `search.autocomplete`, `search.corrections.add`, `search.synonyms.set`."""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

from actors.paging import PAGING_SCHEMA, KeysetPage, parse_page
from actors.search.actor import AUTOCOMPLETE_NS, SearchActor
from actors.search.autocomplete import AUTOCOMPLETE_MAX
from actors.search.messages import AddCorrection, Autocomplete, Query, SetSynonyms, Synonym
from actors.search.readings import SYNONYM_GROUPS_MAX, SYNONYM_PHRASES_MAX
from protocol.api.catalog import CONTENT_SCHEMA
from protocol.methods import Access, MethodTable
from runtime import ChildSpec

NAME = "search"
SCOPE = "search.query"
AUTOCOMPLETE_TTL = 300.0
DEFAULT_SUGGESTIONS = 10

STRINGS = {"type": "array", "items": {"type": "string", "maxLength": 64}, "maxItems": 50}
FILTERS_SCHEMA: dict[str, Any] = {
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
HIGHLIGHTS = {"type": "array", "items": {"type": "object", "properties": {
    "start": {"type": "integer"}, "end": {"type": "integer"}}}}
CORRECTION = {"type": "object", "properties": {"from": {"type": "string"}, "to": {"type": "string"}}}
RANGE = {"type": ["object", "null"], "properties": {"min": {"type": "number"}, "max": {"type": "number"}}}
COUNTS = {"type": "array", "items": {"type": "object", "properties": {"value": {"type": "string"},
                                                                      "count": {"type": "integer"}}}}


def children(services: Any) -> list[ChildSpec]:
    # Building the index of a large catalog takes seconds; give its stop room too.
    return [ChildSpec(NAME, lambda: SearchActor(services.storage, services.kv, services.node_id),
                      shutdown_timeout=5.0)]


def register(table: MethodTable, services: Any) -> None:
    async def query(params: dict, ctx: Any) -> dict:
        page = parse_page(params, services.cursors, SCOPE + ":" + _query_key(params))
        if isinstance(page, KeysetPage):
            msg = Query(params["query"], params.get("filters"), page.limit,
                        after=None if page.after is None else (float(page.after[0]), str(page.after[1])),
                        include_facets=params.get("include_facets", False))
        else:
            msg = Query(params["query"], params.get("filters"), page.page_size, offset=page.offset,
                        include_facets=params.get("include_facets", False))
        result = await services.actor(NAME).ask(msg)
        if isinstance(page, KeysetPage):
            info = KeysetPage.info(result.next_after, services.cursors, SCOPE + ":" + _query_key(params))
        else:
            info = page.info(result.total)
        items = []
        for item, marks in zip(result.items, result.highlights):
            entry = item.to_dict()
            entry["highlights"] = marks
            items.append(entry)
        answer: dict[str, Any] = {"items": items, "total": result.total, "page_info": info,
                                  "corrected_query": result.corrected_query, "corrections": result.corrections}
        if params.get("include_facets"):
            answer["facets"] = result.facets
        return answer

    async def autocomplete(params: dict, ctx: Any) -> dict:
        q = params["q"]
        limit = params.get("limit", DEFAULT_SUGGESTIONS)
        key = f"{AUTOCOMPLETE_NS}:v2:{limit}:{q.casefold()}"  # v2: whole answers, not suggestion lists
        cached = await services.kv.get(key)
        if cached is not None:
            services.metrics.cache_lookup("autocomplete", True)
            return orjson.loads(cached)  # type: ignore[no-any-return]
        services.metrics.cache_lookup("autocomplete", False)
        answer = (await services.actor(NAME).ask(Autocomplete(q, limit))).to_dict()
        await services.kv.set(key, orjson.dumps(answer), ttl=AUTOCOMPLETE_TTL)
        return answer

    async def add_correction(params: dict, ctx: Any) -> dict:
        await services.actor(NAME).ask(AddCorrection(params["misspelled"], params["corrected"]))
        return {"ok": True}

    async def set_synonyms(params: dict, ctx: Any) -> dict:
        groups = tuple(Synonym(tuple(g["words"]), bool(g.get("one_way", False))) for g in params["synonyms"])
        await services.actor(NAME).ask(SetSynonyms(groups))
        return {"ok": True}

    table.add("search.query", query, summary="Full-text search with typo tolerance, filters and facets",
              params={"type": "object", "properties": {
                  "query": {"type": "string", "maxLength": 500},
                  "filters": FILTERS_SCHEMA,
                  "include_facets": {"type": "boolean"},
                  **PAGING_SCHEMA},
                  "required": ["query"], "additionalProperties": False},
              result={"type": "object", "properties": {
                  "items": {"type": "array", "items": {**CONTENT_SCHEMA, "properties": {
                      **CONTENT_SCHEMA["properties"], "highlights": HIGHLIGHTS}}},
                  "total": {"type": "integer"},
                  "page_info": {"type": "object"}, "corrected_query": {"type": ["string", "null"]},
                  "corrections": {"type": "array", "items": CORRECTION},
                  "facets": {"type": "object", "properties": {"genres": COUNTS, "platforms": COUNTS,
                                                              "year_range": RANGE, "rating_range": RANGE}}}})
    table.add("search.autocomplete", autocomplete, summary="Title suggestions for a prefix, most popular first",
              params={"type": "object", "properties": {
                  "q": {"type": "string", "maxLength": 200},
                  "limit": {"type": "integer", "minimum": 1, "maximum": AUTOCOMPLETE_MAX}},
                  "required": ["q"], "additionalProperties": False},
              result={"type": "object", "properties": {
                  "suggestions": {"type": "array", "items": {
                      "type": "object", "properties": {"text": {"type": "string"}, "score": {"type": "number"},
                                                       "type": {"type": "string"}, "content_id": {"type": "string"},
                                                       "highlights": HIGHLIGHTS}}},
                  "corrected_query": {"type": ["string", "null"]},
                  "corrections": {"type": "array", "items": CORRECTION}}})
    table.add("search.corrections.add", add_correction, access=Access.ADMIN,
              summary="Teach a spelling correction; it wins over computed ones",
              params={"type": "object", "properties": {
                  "misspelled": {"type": "string", "minLength": 1, "maxLength": 200},
                  "corrected": {"type": "string", "minLength": 1, "maxLength": 200}},
                  "required": ["misspelled", "corrected"], "additionalProperties": False},
              result={"type": "object", "properties": {"ok": {"const": True}}})
    table.add("search.synonyms.set", set_synonyms, access=Access.ADMIN,
              summary="Replace the synonym groups (multi-way, or one-way from the first phrase)",
              params={"type": "object", "properties": {
                  "synonyms": {"type": "array", "maxItems": SYNONYM_GROUPS_MAX, "items": {
                      "type": "object", "properties": {
                          "words": {"type": "array", "minItems": 2, "maxItems": SYNONYM_PHRASES_MAX,
                                    "items": {"type": "string", "minLength": 1, "maxLength": 200}},
                          "one_way": {"type": "boolean"}},
                      "required": ["words"], "additionalProperties": False}}},
                  "required": ["synonyms"], "additionalProperties": False},
              result={"type": "object", "properties": {"ok": {"const": True}}})


def _query_key(params: dict) -> str:
    """Binds a cursor to the query and filters it was made for."""
    raw = orjson.dumps([params["query"], params.get("filters")], option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(raw).hexdigest()[:16]
