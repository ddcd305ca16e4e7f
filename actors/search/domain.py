"""The search domain's entry: `start(env)` gives the search actor's child spec and the
facade handlers call.

The index lives in the search actor. Reads (`query`, `listed`) call it directly when it
is fresh (`live.LiveIndex`), else ask the actor; local writes reach it through
`changed`. Hot autocomplete prefixes are
cached in the key-value store (Redis when configured) for `AUTOCOMPLETE_TTL`, the whole
answer under `ac:v2:<limit>:<prefix>`, and the search actor drops them whenever the
catalog, the corrections or the synonyms change. The index's copy of the catalog also
answers the catalog's reads (`indexed`, `listed`: the catalog's `ItemIndex`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import attrs
import orjson

from actors.catalog.model import ContentItem
from actors.env import DomainEnv
from actors.kv import KV
from actors.paging import KeysetPage, Page, Slice
from actors.search.actor import AUTOCOMPLETE_NS, SearchActor, answer_query, list_page
from actors.search.autocomplete import Suggestions
from actors.search.explain import Highlight
from actors.search.index import QueryResult, SearchIndex
from actors.search.live import LiveIndex
from actors.search.messages import (AddCorrection, Autocomplete, GetItem, ListItems, LocalChange, Query,
                                    SetSynonyms, Synonym)
from runtime import ActorRef, ActorStopped, AskTimeout, Overloaded, Registry, Shared

NAME = "search"
AUTOCOMPLETE_TTL = 300.0
AUTOCOMPLETE_KEY = AUTOCOMPLETE_NS + ":v2"  # v2: whole answers, not suggestion lists
INDEX_TIMEOUT = 0.2
"""Seconds a content read waits for the index before it reads storage instead."""

CacheObserver = Callable[[str, bool], None]
"""Told (cache name, hit) after every cache lookup (for the hit-rate metrics)."""


Correction = dict[str, str]
"""{from, to}: a typed word and the word it was read as (typo or learned correction)."""


@attrs.frozen
class SearchPage:
    """One page of `search.query`: the hits (a `Slice`, with the total) and, parallel to
    them, the ranges of each title that matched (`highlights`); what the top hit's
    reading corrected (`corrected_query` and `corrections`, None and [] when nothing);
    and the facets when asked for."""

    hits: Slice[ContentItem]
    highlights: Sequence[Sequence[Highlight]]
    corrected_query: str | None
    corrections: Sequence[Correction]
    facets: dict[str, Any] | None


class SearchDomain:
    """What the node's other parts call on search. `children`: its actor."""

    def __init__(self, env: DomainEnv, on_cache_lookup: CacheObserver | None = None) -> None:
        self._registry: Registry = env.registry
        self._kv: KV = env.kv
        self._on_cache_lookup = on_cache_lookup
        self.live = Shared(NAME, LiveIndex())
        # Building the index of a large catalog takes seconds; give its stop room too.
        self.children = [self.live.child(lambda live: SearchActor(env.storage, env.kv, env.node_id, live),
                                         shutdown_timeout=5.0)]

    def _ref(self) -> ActorRef:
        return self._registry.lookup(NAME)

    def _fresh(self) -> SearchIndex | None:
        """The index to read directly: built, holding every local write, and its actor
        still there to follow the catalog (registered until its slot ends for good)."""
        index = self.live.state.fresh()
        if index is None or self._registry.get(NAME) is None:
            return None
        return index

    def version(self) -> int | None:
        """Changes whenever what `query` answers may change (`SearchIndex.version`);
        None while reads ask the actor rather than read the index directly."""
        index = self._fresh()
        return None if index is None else index.version

    async def query(self, text: str, filters: dict[str, Any] | None, page: Page,
                    include_facets: bool = False) -> SearchPage:
        if isinstance(page, KeysetPage):
            after = None if page.after is None else (float(page.after[0]), str(page.after[1]))  # type: ignore[arg-type]
            msg = Query(text, filters, page.limit, after=after, include_facets=include_facets)
        else:
            msg = Query(text, filters, page.page_size, offset=page.offset, include_facets=include_facets)
        index = self._fresh()
        result: QueryResult = answer_query(index, msg) if index is not None else await self._ref().ask(msg)
        return SearchPage(Slice(result.items, result.total, result.next_after), result.highlights,
                          result.corrected_query, result.corrections, result.facets)

    async def autocomplete(self, q: str, limit: int) -> dict[str, object]:
        """The answer for the prefix `q` as a JSON object (suggestions, corrected_query,
        corrections), from the cache when it has it."""
        key = f"{AUTOCOMPLETE_KEY}:{limit}:{q.casefold()}"
        cached = await self._kv.get(key)
        if self._on_cache_lookup is not None:
            self._on_cache_lookup("autocomplete", cached is not None)
        if cached is not None:
            answer: dict[str, object] = orjson.loads(cached)
            return answer
        found: Suggestions = await self._ref().ask(Autocomplete(q, limit))
        answer = found.to_dict()
        await self._kv.set(key, orjson.dumps(answer), ttl=AUTOCOMPLETE_TTL)
        return answer

    async def add_correction(self, misspelled: str, corrected: str) -> None:
        """Store a learned correction (it wins over computed ones) and spread it."""
        await self._ref().ask(AddCorrection(misspelled, corrected))

    async def set_synonyms(self, groups: Sequence[Synonym]) -> None:
        """Replace every synonym group (stored first, then applied and spread);
        `InvalidParams` naming a phrase without a word or with too many."""
        await self._ref().ask(SetSynonyms(tuple(groups)))

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

    async def changed(self, items: Sequence[ContentItem]) -> None:
        """Content written on this node: tell the index (reads ask it, rather than read
        it directly, until it has applied the change). Nothing if it is not running."""
        ref = self._registry.get(NAME)
        if ref is None:
            return
        live = self.live.state
        live.behind += 1
        try:
            await ref.tell(LocalChange(tuple(items)))
        except BaseException:
            live.behind -= 1
            raise

    async def listed(self, page: Page, sort: str) -> Slice[bytes] | None:
        """One `content.list` page from the index's copy of the catalog (the same order
        and pages as storage's), each item as its JSON: read directly when fresh, else
        asked like `indexed` (None if it is busy, full or not running)."""
        index = self._fresh()
        if index is not None:
            return list_page(index, page, sort)
        ref = self._registry.get(NAME)
        if ref is None:
            return None
        try:
            found: Slice[bytes] = await ref.ask(ListItems(page, sort), timeout=INDEX_TIMEOUT, wait=False)
        except (Overloaded, AskTimeout, ActorStopped):
            return None
        return found


def start(env: DomainEnv, *, on_cache_lookup: CacheObserver | None = None) -> SearchDomain:
    """The search domain of this node: its child spec (nothing runs until a supervisor
    starts it) and its facade."""
    return SearchDomain(env, on_cache_lookup)
