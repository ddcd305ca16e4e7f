"""Content reads (content.get, playback.start) ask the search index from their own task.

Real catalog, search and playback actors on real SQLite storage, their methods called
through the method table, on a MockClock: time moves only when a test jumps it, or by
itself after 5 real seconds with every task blocked, which turns a stall into a
failure instead of a hang. The search actor's reads of storage can be held, so that
it sits busy in a reload, as it does while it re-reads a large catalog.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any, AsyncIterator

import orjson
import pytest
import trio
import trio.testing

from actors import catalog, playback, search
from actors.catalog import store
from actors.catalog.messages import GetContent
from actors.env import DomainEnv
from actors.errors import NotFound
from actors.kv.memory import MemoryKV
from actors.search.domain import INDEX_TIMEOUT
from actors.search.messages import GetItem, Reload
from actors.storage import Storage, connect_storage, migrate
from protocol.api import catalog as catalog_api
from protocol.api import playback as playback_api
from protocol.calls import Call
from protocol.methods import MethodTable
from runtime import ActorRef, Registry, Supervisor
from tests.e2e.test_catalog import item

USER = SimpleNamespace(principal=SimpleNamespace(sub="u1"))


class HeldStorage:
    """The real storage, whose `fetch` (all the search actor reads with) waits from
    `hold()` until `release` is set."""

    def __init__(self, inner: Storage) -> None:
        self.inner = inner
        self.release = trio.Event()
        self.release.set()
        self.waiting = trio.Event()

    def hold(self) -> None:
        self.release = trio.Event()
        self.waiting = trio.Event()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def _held(self) -> None:
        if not self.release.is_set():
            self.waiting.set()
            await self.release.wait()

    async def fetch(self, sql: str, *args: Any) -> Any:
        await self._held()
        return await self.inner.fetch(sql, *args)


class Pending:
    """A method call running in the background."""

    def __init__(self) -> None:
        self.done = trio.Event()
        self.result: Any = None


class Rig:
    """The catalog, search and playback domains as the gateway builds them, the search
    actor reading storage through a `HeldStorage`; five items stored and indexed."""

    def __init__(self, env: DomainEnv, catalog: catalog.CatalogDomain, index: search.SearchDomain,
                 search_storage: HeldStorage) -> None:
        self.env = env
        self.catalog = catalog
        self.index = index
        self.search_storage = search_storage
        self.table = MethodTable()

    async def call(self, method: str, params: dict[str, Any]) -> Any:
        # Straight to the handler: playback's methods would otherwise want a token.
        found = self.table.get(method)
        assert found is not None
        return await found.handler(Call(params, USER, found.domain, self.table.cursors))  # type: ignore[arg-type]

    @property
    def search(self) -> ActorRef:
        return self.env.registry.lookup("search")

    async def busy_search(self) -> None:
        """Leave the search actor inside a reload, waiting for storage."""
        self.search_storage.hold()
        await self.search.tell(Reload(("t001",)))
        await self.search_storage.waiting.wait()

    async def pending(self, nursery: trio.Nursery, method: str, params: dict[str, Any]) -> Pending:
        """Start a call in the background and let it run until it waits."""
        pending = Pending()

        async def run() -> None:
            pending.result = await self.call(method, params)
            pending.done.set()

        nursery.start_soon(run)
        await trio.testing.wait_all_tasks_blocked()
        return pending


@pytest.fixture
def clock() -> trio.testing.MockClock:
    return trio.testing.MockClock(autojump_threshold=5.0)


@pytest.fixture
async def rig(request: pytest.FixtureRequest, nursery: trio.Nursery, tmp_path: Path) -> AsyncIterator[Rig]:
    """With a search actor unless parametrized indirectly with False."""
    async with connect_storage(f"sqlite:///{tmp_path}/gateway.db", pool_size=2, timeout=5.0) as storage:
        await migrate(storage)
        env = DomainEnv(storage, MemoryKV(), Registry(), "n1")
        held = HeldStorage(storage)
        index = search.start(DomainEnv(held, env.kv, env.registry, env.node_id))  # type: ignore[arg-type]
        catalog_domain = catalog.start(env, index=index)
        playback_domain = playback.start(env)
        children = catalog_domain.children + playback_domain.children
        if getattr(request, "param", True):
            children += index.children
        supervisor = Supervisor("test", children, registry=env.registry)
        await nursery.start(supervisor.run)
        await catalog_domain.upsert([item(n) for n in range(5)])
        rig = Rig(env, catalog_domain, index, held)
        rig.table.add_all(catalog_api.METHODS, catalog_domain)
        rig.table.add_all(playback_api.METHODS, playback_api.Needs(playback_domain, catalog_domain,
                                                                      playback_api.push_hub(playback_domain)))
        yield rig
        held.release.set()
        await supervisor.stop()


@pytest.mark.parametrize("method, params", [("content.get", {"id": "t001"}),
                                            ("playback.start", {"content_id": "t001"})])
async def test_a_read_waiting_for_a_busy_index_holds_up_no_catalog_request(
        clock: trio.testing.MockClock, nursery: trio.Nursery, rig: Rig, method: str, params: dict) -> None:
    await rig.busy_search()
    read = await rig.pending(nursery, method, params)
    assert not read.done.is_set() and rig.search.depth() == 1  # its GetItem waits behind the reload

    # content.list reads the index directly: the busy actor does not hold it up.
    listing = await rig.pending(nursery, "content.list", {"limit": 3})
    assert listing.done.is_set()
    began = trio.current_time()
    with trio.move_on_after(INDEX_TIMEOUT / 2) as waited:
        upserted = await rig.call("content.upsert", {"items": [item(7).to_dict()]})
    assert not waited.cancelled_caught, "the catalog actor waited for the index on the read's behalf"
    assert trio.current_time() == began
    assert upserted == {"upserted": 1}

    # The reads give up on the index after INDEX_TIMEOUT and read storage.
    clock.jump(INDEX_TIMEOUT)
    with trio.fail_after(1):
        await read.done.wait()
        await listing.done.wait()
    assert len(orjson.loads(orjson.dumps(listing.result["items"]))) == 3
    if method == "content.get":
        assert read.result == item(1).to_dict()
    else:
        assert read.result["session_id"]


async def test_a_listing_sees_this_nodes_writes_before_the_index_has_applied_them(
        clock: trio.testing.MockClock, nursery: trio.Nursery, rig: Rig) -> None:
    await rig.busy_search()
    await rig.call("content.upsert", {"items": [item(7).to_dict()]})  # applied after the reload
    assert rig.search.depth() == 1

    # Not read directly while the write waits: asked, then storage after INDEX_TIMEOUT.
    listing = await rig.pending(nursery, "content.list", {"limit": 10, "sort": "title"})
    assert not listing.done.is_set()
    clock.jump(INDEX_TIMEOUT)
    with trio.fail_after(1):
        await listing.done.wait()
    assert "t007" in [i["id"] for i in orjson.loads(orjson.dumps(listing.result["items"]))]

    # Once the index has applied it, read directly again.
    rig.search_storage.release.set()
    while rig.search.depth():
        await trio.sleep(0)
    await trio.testing.wait_all_tasks_blocked()
    rig.search_storage.hold()
    await rig.search.tell(Reload(("t001",)))
    await rig.search_storage.waiting.wait()
    listed = await rig.call("content.list", {"limit": 10, "sort": "title"})
    assert "t007" in [i["id"] for i in orjson.loads(orjson.dumps(listed["items"]))]


async def test_a_read_answers_from_the_index_what_storage_lacks(rig: Rig) -> None:
    only_indexed = item(8, title="Indexed only")
    await rig.index.changed((only_indexed,))  # as a write of this node, but never stored
    assert await rig.call("content.get", {"id": "t008"}) == only_indexed.to_dict()
    assert (await rig.call("playback.start", {"content_id": "t008"}))["session_id"]
    with pytest.raises(NotFound):
        await rig.env.registry.lookup("catalog").ask(GetContent("t008"))  # storage has no t008


async def test_what_the_index_lacks_is_read_from_storage(rig: Rig) -> None:
    behind = item(9, title="Written behind the index's back")
    async with rig.env.storage.transaction() as tx:
        await store.upsert(tx, (behind,), 0)
    assert await rig.search.ask(GetItem("t009")) is None
    assert await rig.call("content.get", {"id": "t009"}) == behind.to_dict()
    with pytest.raises(NotFound):
        await rig.call("content.get", {"id": "nope"})


@pytest.mark.parametrize("rig", [False], indirect=True, ids=["no search actor"])
async def test_without_a_search_actor_reads_come_from_storage(rig: Rig) -> None:
    assert rig.env.registry.get("search") is None
    assert await rig.call("content.get", {"id": "t001"}) == item(1).to_dict()
    assert (await rig.call("playback.start", {"content_id": "t001"}))["session_id"]
