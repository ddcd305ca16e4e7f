"""The search domain's entry: `start(env)` gives the search actor's child spec and the
facade handlers call.

The index lives in the search actor; queries are asks. Hot autocomplete prefixes are
cached in the key-value store (Redis when configured) for `AUTOCOMPLETE_TTL`, and the
search actor drops them whenever the catalog or the corrections change.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs
import orjson

from actors.catalog.model import ContentItem
from actors.env import DomainEnv
from actors.kv import KV
from actors.paging import KeysetPage, Page, Slice
from actors.search.actor import AUTOCOMPLETE_NS, SearchActor
from actors.search.index import QueryResult, Suggestion
from actors.search.messages import AddCorrection, Autocomplete, GetItem, Query
from runtime import ActorRef, ActorStopped, AskTimeout, ChildSpec, Overloaded, Registry

NAME = "search"
AUTOCOMPLETE_TTL = 300.0
INDEX_TIMEOUT = 0.2
"""Seconds a content read waits for the index before it reads storage instead."""

CacheObserver = Callable[[str, bool], None]
"""Told (cache name, hit) after every cache lookup (for the hit-rate metrics)."""


@attrs.frozen
class SearchPage:
    """One page of `search.query`: the hits (a `Slice`, with the total), the corrected
    query when the answer is for it, and the facets when asked for."""

    hits: Slice[ContentItem]
    corrected_query: str | None
    facets: dict[str, Any] | None


class SearchDomain:
    """What the node's other parts call on search. `children`: its actor."""

    def __init__(self, env: DomainEnv, on_cache_lookup: CacheObserver | None = None) -> None:
        self._registry: Registry = env.registry
        self._kv: KV = env.kv
        self._on_cache_lookup = on_cache_lookup
        # Building the index of a large catalog takes seconds; give its stop room too.
        self.children = [ChildSpec(NAME, lambda: SearchActor(env.storage, env.kv, env.node_id),
                                   shutdown_timeout=5.0)]

    def _ref(self) -> ActorRef:
        return self._registry.lookup(NAME)

    async def query(self, text: str, filters: dict[str, Any] | None, page: Page,
                    include_facets: bool = False) -> SearchPage:
        if isinstance(page, KeysetPage):
            after = None if page.after is None else (float(page.after[0]), str(page.after[1]))  # type: ignore[arg-type]
            msg = Query(text, filters, page.limit, after=after, include_facets=include_facets)
        else:
            msg = Query(text, filters, page.page_size, offset=page.offset, include_facets=include_facets)
        result: QueryResult = await self._ref().ask(msg)
        return SearchPage(Slice(result.items, result.total, result.next_after), result.corrected_query,
                          result.facets)

    async def autocomplete(self, q: str, limit: int) -> list[dict[str, object]]:
        """Suggestions for the prefix `q` as JSON objects, from the cache when it has them."""
        key = f"{AUTOCOMPLETE_NS}:{limit}:{q.casefold()}"
        cached = await self._kv.get(key)
        if self._on_cache_lookup is not None:
            self._on_cache_lookup("autocomplete", cached is not None)
        if cached is not None:
            suggestions: list[dict[str, object]] = orjson.loads(cached)
            return suggestions
        found: list[Suggestion] = await self._ref().ask(Autocomplete(q, limit))
        suggestions = [s.to_dict() for s in found]
        await self._kv.set(key, orjson.dumps(suggestions), ttl=AUTOCOMPLETE_TTL)
        return suggestions

    async def add_correction(self, misspelled: str, corrected: str) -> None:
        """Store a learned correction (it wins over computed ones) and spread it."""
        await self._ref().ask(AddCorrection(misspelled, corrected))

    async def indexed(self, content_id: str) -> ContentItem | None:
        """The index's copy of one item, or None if it lacks it or is busy, full or not
        running. Asked from the caller's task with `INDEX_TIMEOUT`, so a busy index
        delays a read by at most that, never the catalog's other requests."""
        ref = self._registry.get(NAME)
        if ref is None:
            return None
        try:
            item: ContentItem | None = await ref.ask(GetItem(content_id), timeout=INDEX_TIMEOUT, wait=False)
        except (Overloaded, AskTimeout, ActorStopped):
            return None
        return item


def start(env: DomainEnv, *, on_cache_lookup: CacheObserver | None = None) -> SearchDomain:
    """The search domain of this node: its child spec (nothing runs until a supervisor
    starts it) and its facade."""
    return SearchDomain(env, on_cache_lookup)
