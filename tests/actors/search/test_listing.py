"""content.list from the index's copy against content.list from storage, on both
adapters: the same items in the same order for every sort and both paging kinds,
after upserts that change sort keys (property-based)."""

from __future__ import annotations

import trio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from actors.catalog.messages import Upsert
from actors.search.index import SearchIndex
from actors.search.listing import sort_key
from tests.actors.catalog.test_paging import catalog, items_strategy, walk_keyset, walk_offset

SETTINGS = settings(max_examples=20, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def memory_walk(ix: SearchIndex, sort: str, size: int, keyset: bool) -> list[str]:
    seen: list[str] = []
    if not keyset:
        offset = 0
        while offset < len(ix):
            seen += [i.id for i in ix.list_offset(sort, offset, size)]
            offset += size
        return seen
    after = None
    while True:
        page = ix.list_after(sort, after, size + 1)
        seen += [i.id for i in page[:size]]
        if len(page) <= size:
            return seen
        after = sort_key(page[size - 1], sort)


async def storage_walk(ref, sort: str, size: int, keyset: bool) -> list[str]:  # type: ignore[no-untyped-def]
    return await (walk_keyset(ref, sort, size) if keyset else walk_offset(ref, sort, size))


@SETTINGS
@given(items=items_strategy, changed=items_strategy, sort=st.sampled_from(["popularity", "title", "year"]),
       size=st.integers(1, 7), keyset=st.booleans())
def test_memory_lists_as_storage_does(storage_url, items, changed, sort, size, keyset) -> None:
    trio.run(same_order, storage_url, items, changed, sort, size, keyset)


async def same_order(storage_url, items, changed, sort, size, keyset) -> None:  # type: ignore[no-untyped-def]
    async with catalog(storage_url) as (storage, ref):
        ix = SearchIndex()
        for batch in (items, changed):  # the second batch re-keys some of the first
            if batch:
                await ref.ask(Upsert(tuple(batch)))
            for item in batch:
                ix.upsert(item)
            assert memory_walk(ix, sort, size, keyset) == await storage_walk(ref, sort, size, keyset)
