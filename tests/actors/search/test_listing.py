"""content.list from the index's copy against content.list from storage, on both
adapters: the same items in the same order for every sort and both paging kinds,
after upserts that change sort keys (property-based); and each item's JSON as the
item it belongs to encodes now, after upserts and removals between listings."""

from __future__ import annotations

import orjson
import trio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from actors.catalog.messages import Upsert
from actors.catalog.model import ContentItem
from actors.paging import KeysetPage, OffsetPage
from actors.search.actor import list_page
from actors.search.index import SearchIndex
from actors.search.listing import SORTS
from tests.actors.catalog.test_paging import catalog, items_strategy, walk_keyset, walk_offset

SETTINGS = settings(max_examples=20, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def json_walk(ix: SearchIndex, sort: str, size: int, keyset: bool) -> list[str]:
    """content.list's pages (`list_page`, each item as its JSON), walked to the end:
    the ids, each JSON checked against the item the index holds under its id."""
    encoded: list[bytes] = []
    if not keyset:
        page = 1
        while True:
            found = list_page(ix, OffsetPage(page, size), sort)
            encoded += found.items
            if page * size >= (found.total or 0):
                break
            assert len(found.items) == size
            page += 1
    else:
        after = None
        while True:
            found = list_page(ix, KeysetPage(size, after), sort)
            encoded += found.items
            after = found.next_key
            if after is None:
                break
            assert len(found.items) == size
    assert len(found.items) <= size
    ids = [orjson.loads(raw)["id"] for raw in encoded]
    for content_id, raw in zip(ids, encoded):
        item = ix.get(content_id)
        assert item is not None and raw == orjson.dumps(item.to_dict())
    return ids


def expected(items: dict[str, ContentItem], sort: str) -> list[str]:
    """The ids of `items` in the listing's order, straight from its sort key."""
    key, backwards = SORTS[sort]
    return [i.id for i in sorted(items.values(), key=key, reverse=backwards)]


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
            assert json_walk(ix, sort, size, keyset) == await storage_walk(ref, sort, size, keyset)


@settings(max_examples=60, deadline=None)
@given(items=items_strategy, changed=items_strategy, removed=st.lists(st.integers(0, 30), max_size=6),
       sort=st.sampled_from(["popularity", "title", "year"]), size=st.integers(1, 7), keyset=st.booleans())
def test_listed_json_follows_upserts_and_removals(items, changed, removed, sort, size, keyset) -> None:
    ix = SearchIndex(items)
    held = {i.id: i for i in items}  # what the index should hold
    assert json_walk(ix, sort, size, keyset) == expected(held, sort)  # what is listed keeps its JSON
    for item in changed:
        ix.upsert(item)
        held[item.id] = item
    present = sorted(held)
    for n in removed:
        if n < len(present) and present[n] in held:
            ix.remove(present[n])
            del held[present[n]]
    assert json_walk(ix, sort, size, keyset) == expected(held, sort)
