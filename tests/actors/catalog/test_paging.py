"""Paging, property-based, on both storage adapters: every item exactly once."""

from __future__ import annotations

from contextlib import asynccontextmanager

import trio
import trio_asyncio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from actors.catalog import store
from actors.catalog.actor import CatalogActor
from actors.catalog.messages import ListContent, Upsert
from actors.catalog.model import ContentItem
from actors.kv import connect_kv
from actors.paging import KeysetPage, OffsetPage
from actors.storage import connect_storage, migrate
from runtime import spawn

SETTINGS = settings(max_examples=25, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@asynccontextmanager
async def catalog(url: str):  # type: ignore[no-untyped-def]
    """A catalog actor on an emptied `content` table (each example runs in its own trio.run)."""
    async with trio_asyncio.open_loop(), connect_storage(url, pool_size=2) as storage:
        await migrate(storage)
        await storage.execute("DELETE FROM content")
        async with connect_kv(None) as kv, trio.open_nursery() as nursery:
            ref = await spawn(nursery, lambda: CatalogActor(storage, kv, "n1"), "catalog")
            yield storage, ref
            nursery.cancel_scope.cancel()

items_strategy = st.lists(
    st.builds(
        lambda n, title, year, pop: ContentItem(id=f"i{n:04d}", title=title, type="movie", year=year,
                                                popularity=float(pop)),
        st.integers(0, 9999),
        st.sampled_from(["Alien", "Heat", "Up", "Amélie", "Ran", "Alien"]),  # many equal sort keys
        st.integers(1950, 1955),
        st.integers(0, 3),
    ),
    min_size=0, max_size=60, unique_by=lambda i: i.id,
)


async def walk_offset(ref, sort: str, size: int) -> list[str]:
    seen, page = [], 1
    while True:
        found = await ref.ask(ListContent(OffsetPage(page, size), sort))
        seen += [i.id for i in found.items]
        if page * size >= found.total:  # the last page
            return seen
        page += 1


async def walk_keyset(ref, sort: str, size: int, between=None) -> list[str]:  # type: ignore[no-untyped-def]
    seen, after = [], None
    while True:
        found = await ref.ask(ListContent(KeysetPage(size, after), sort))
        seen += [i.id for i in found.items]
        after = found.next_key
        if after is None:
            return seen
        if between is not None:
            await between()


@SETTINGS
@given(items=items_strategy, sort=st.sampled_from(["popularity", "title", "year"]), size=st.integers(1, 7))
def test_every_item_exactly_once_in_both_modes(storage_url, items, sort, size) -> None:
    trio.run(every_item_once, storage_url, items, sort, size)


async def every_item_once(storage_url, items, sort, size) -> None:  # type: ignore[no-untyped-def]
    async with catalog(storage_url) as (storage, ref):
        if items:
            await ref.ask(Upsert(tuple(items)))
        expected = sorted(i.id for i in items)
        by_offset = await walk_offset(ref, sort, size)
        by_cursor = await walk_keyset(ref, sort, size)
        assert sorted(by_offset) == expected and len(by_offset) == len(expected)
        assert by_cursor == by_offset


@SETTINGS
@given(items=items_strategy, extra=items_strategy, sort=st.sampled_from(["popularity", "title", "year"]),
       size=st.integers(1, 7))
def test_cursor_walk_survives_inserts_between_pages(storage_url, items, extra, sort, size) -> None:
    """Items present from the start are each seen exactly once; no id is seen twice."""
    trio.run(inserts_between_pages, storage_url, items, extra, sort, size)


async def inserts_between_pages(storage_url, items, extra, sort, size) -> None:  # type: ignore[no-untyped-def]
    extra = [ContentItem(**{**e.to_dict(), "id": "x" + e.id, "genres": (), "platforms": ()}) for e in extra]
    pending = list(extra)
    async with catalog(storage_url) as (storage, ref):
        if items:
            await ref.ask(Upsert(tuple(items)))

        async def insert_some() -> None:
            if pending:
                batch = tuple(pending[:3])
                del pending[:3]
                await ref.ask(Upsert(batch))

        seen = await walk_keyset(ref, sort, size, between=insert_some)
        assert len(seen) == len(set(seen))
        assert {i.id for i in items} <= set(seen)
        assert set(seen) <= {i.id for i in items} | {e.id for e in extra}
        assert await store.count(storage) == len(items) + len(extra) - len(pending)
