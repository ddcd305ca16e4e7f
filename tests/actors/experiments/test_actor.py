"""The experiments domain against real storage (SQLite in tmp_path, PostgreSQL): weights
through the one assignment path, stickiness across calls, restarts, a second node and
weight changes, coverage, exposure counts and the SRM flag, definitions and their
errors."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import trio

from actors import experiments
from actors.env import DomainEnv
from actors.errors import Conflict, InvalidParams, NotFound
from actors.experiments.messages import (
    CreateExperiment,
    Flush,
    GetExperiment,
    GetStats,
    ListExperiments,
    UpdateExperiment,
)
from actors.experiments.model import Experiment, create_experiment
from actors.experiments.stats import chi_square_srm
from actors.experiments.table import Assignment, AssignmentTable, LookupNeeded
from actors.kv import KV, MemoryKV
from actors.paging import KeysetPage
from actors.storage import Storage, connect_storage, migrate
from protocol.paging import CursorCodec, Listing
from runtime import Registry, Supervisor
from tests.actors.experiments.oracle import assign

NOW = 1_700_000_000.0
SCHEDULING_MS = 250


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/data/gateway.db"
    return request.getfixturevalue("pg_url")


@pytest.fixture
async def storage(aio_loop: object, db_url: str) -> AsyncIterator[Storage]:
    async with connect_storage(db_url, pool_size=4, timeout=10.0) as storage:
        await migrate(storage)
        yield storage


class Node:
    """One experiments domain (one gateway node's), its actor started and stopped at will."""

    def __init__(self, storage: Storage, kv: KV, node_id: str = "node-a", **options: Any) -> None:
        self.storage = storage
        # As in the gateway, the table outlives actor incarnations; a new Node is a new process.
        self.domain = experiments.start(DomainEnv(storage, kv, Registry(), node_id),
                                        table=AssignmentTable(**options))
        self.table = self.domain.table.state
        self._supervisor: Supervisor | None = None

    async def start(self, nursery: trio.Nursery) -> Node:
        self._supervisor = Supervisor("node", self.domain.children)
        await nursery.start(self._supervisor.run)
        return self

    async def stop(self) -> None:
        """An orderly stop: the actor's stopping() flushes its buffers."""
        assert self._supervisor is not None
        await self._supervisor.stop()

    async def ask(self, msg: object) -> Any:
        return await self.domain.table.ref.ask(msg)

    async def assign(self, experiment_id: str, user_id: str) -> Assignment:
        """The one assignment path, as the gateway's handler takes it."""
        return await self.domain.assign(experiment_id, user_id)

    async def assign_all(self, experiment_id: str, users: Sequence[str]) -> list[Assignment]:
        return [await self.domain.assign(experiment_id, user) for user in users]

    async def create(self, id: str = "exp", variants: object = ("a", "b"), **params: object) -> Experiment:
        experiment = create_experiment({"id": id, "name": id.title(), "variants": list(variants), **params}, NOW)  # type: ignore[call-overload]
        return await self.ask(CreateExperiment(experiment))

    async def update(self, id: str = "exp", **changes: object) -> Experiment:
        return await self.ask(UpdateExperiment(id, changes))


@pytest.fixture
async def node(nursery: trio.Nursery, storage: Storage) -> Node:
    return await Node(storage, MemoryKV()).start(nursery)


def users(n: int, prefix: str = "user") -> list[str]:
    return [f"{prefix}-{i:06d}" for i in range(n)]


def weighted(*pairs: tuple[str, float]) -> list[dict[str, object]]:
    return [{"name": n, "weight": w} for n, w in pairs]


async def eventually(check, timeout: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    """Await `check()` until it is true (a notice crossing to another actor)."""
    with trio.fail_after(timeout):
        while not await check():
            await trio.sleep(0.01)


# --------------------------------------------------------------- distribution


@pytest.mark.parametrize(
    "variants",
    [["control", "treatment"], weighted(("a", 20), ("b", 30), ("c", 50))],
    ids=["50-50", "20-30-50"],
)
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # the split does not depend on it
async def test_100k_users_fit_the_weights(node: Node, variants: list) -> None:
    experiment = await node.create("split", variants)
    population = users(100_000)
    answers = await node.assign_all("split", population)
    # The table answers what the reference GrowthBook assignment answers.
    assert answers == [assign(experiment, u) for u in population]
    counts = Counter(a.variant for a in answers)
    _, p_value = chi_square_srm([counts[n] for n in experiment.variant_names], experiment.weights())
    assert p_value > 0.001
    # The same counts, as exposures, through stats (part flushed, part in memory).
    stats = await node.ask(GetStats("split"))
    assert stats["counts"] == {n: counts[n] for n in experiment.variant_names}
    assert stats["total"] == 100_000
    assert stats["srm_detected"] is False and stats["srm_p_value"] == pytest.approx(p_value)
    # Every first assignment is recorded, once.
    await node.ask(Flush())
    assert await node.storage.fetchval(
        "SELECT count(*) FROM experiment_assignments WHERE experiment_id = $1", "split") == 100_000


# --------------------------------------------------------------- stickiness


async def test_same_user_same_variant_on_every_call(node: Node) -> None:
    await node.create("exp", ["a", "b", "c"])
    first = [await node.assign("exp", u) for u in users(300)]
    for _ in range(2):
        assert [await node.assign("exp", u) for u in users(300)] == first
    assert all(a.in_experiment for a in first)
    assert {a.variant for a in first} == {"a", "b", "c"}


async def test_same_variant_after_a_restart(nursery: trio.Nursery, storage: Storage) -> None:
    node = await Node(storage, MemoryKV()).start(nursery)
    await node.create("exp", ["a", "b"])
    before = await node.assign_all("exp", users(2000))
    await node.stop()  # flushes the assignments and exposures

    again = await Node(storage, MemoryKV()).start(nursery)
    assert await again.assign_all("exp", users(2000)) == before
    # Unchanged weights: every answer came from memory and the hash, no storage read.
    assert again.table.lookups == 0
    stats = await again.ask(GetStats("exp"))
    assert stats["total"] == 4000


async def test_stickiness_after_a_weight_change_and_a_restart(nursery: trio.Nursery, storage: Storage) -> None:
    node = await Node(storage, MemoryKV()).start(nursery)
    experiment = await node.create("exp", weighted(("a", 50), ("b", 50)))
    old = users(2000)
    before = await node.assign_all("exp", old)
    assert 900 < Counter(a.variant for a in before)["a"] < 1100

    changed = await node.update("exp", variants=weighted(("a", 10), ("b", 90)))
    assert changed.weights() == pytest.approx((0.1, 0.9))
    assert await node.assign_all("exp", old) == before
    # New users follow the new weights.
    fresh = await node.assign_all("exp", users(2000, "new"))
    share_a = Counter(a.variant for a in fresh)["a"] / 2000
    assert 0.06 < share_a < 0.14

    # A new incarnation, cache empty: users in buckets that moved are read from storage.
    await node.stop()
    again = await Node(storage, MemoryKV()).start(nursery)
    assert await again.assign_all("exp", old) == before
    assert await again.assign_all("exp", users(2000, "new")) == fresh
    moved = sum(1 for u in old + users(2000, "new")
                if assign(experiment, u).variant != assign(changed, u).variant)
    assert 0 < again.table.lookups <= moved + 10  # only the moved buckets, once each
    lookups = again.table.lookups
    assert await again.assign_all("exp", old) == before
    assert again.table.lookups == lookups  # then cached


async def test_a_second_node_gives_the_same_answers(nursery: trio.Nursery, storage: Storage, db_url: str) -> None:
    kv = MemoryKV()  # the two nodes' shared pub/sub (Redis in production)
    a = await Node(storage, kv, "node-a").start(nursery)
    async with connect_storage(db_url, pool_size=4, timeout=10.0) as storage_b:
        b = await Node(storage_b, kv, "node-b").start(nursery)
        await a.create("exp", weighted(("a", 50), ("b", 50)))
        await eventually(lambda: _knows(b, "exp"))
        on_a = await a.assign_all("exp", users(1500, "a"))
        on_b = await b.assign_all("exp", users(1500, "b"))
        # Deterministic: no coordination needed while weights are unchanged.
        assert await b.assign_all("exp", users(1500, "a")) == on_a
        assert await a.assign_all("exp", users(1500, "b")) == on_b

        # A weight change on node a reaches node b, which flushes what it assigned.
        await a.update("exp", variants=weighted(("a", 90), ("b", 10)))
        await eventually(lambda: _has_weights(b, "exp", (0.9, 0.1)))
        await b.ask(Flush())
        assert await b.assign_all("exp", users(1500, "a")) == on_a
        assert await a.assign_all("exp", users(1500, "b")) == on_b
        assert await b.assign_all("exp", users(1500, "b")) == on_b
        await b.stop()


async def test_an_experiment_created_on_another_node_is_assigned_before_its_notice_comes(
        nursery: trio.Nursery, storage: Storage, db_url: str) -> None:
    # Separate pub/sub: node b never hears of the creation and must find it in storage.
    a = await Node(storage, MemoryKV(), "node-a").start(nursery)
    async with connect_storage(db_url, pool_size=4, timeout=10.0) as storage_b:
        b = await Node(storage_b, MemoryKV(), "node-b").start(nursery)
        await a.create("fresh", weighted(("a", 50), ("b", 50)))
        assert not await _knows(b, "fresh")
        assert await b.assign_all("fresh", users(200)) == await a.assign_all("fresh", users(200))
        with pytest.raises(NotFound):
            await b.assign("never-made", "user-1")
        await b.stop()


async def _knows(node: Node, experiment_id: str) -> bool:
    return experiment_id in node.table.live


async def _has_weights(node: Node, experiment_id: str, weights: tuple[float, ...]) -> bool:
    live = node.table.live.get(experiment_id)
    return live is not None and live.experiment.weights() == pytest.approx(weights)


async def test_coverage_raised_only_adds_users_and_lowered_keeps_them(node: Node) -> None:
    await node.create("cov", ["a", "b"], coverage=0.3)
    population = users(3000)
    low = await node.assign_all("cov", population)
    inside = {u: a.variant for u, a in zip(population, low) if a.in_experiment}
    assert 0.25 < len(inside) / 3000 < 0.35
    assert all(a.variant == "a" for a in low if not a.in_experiment)

    await node.update("cov", coverage=0.6)
    high = await node.assign_all("cov", population)
    now_inside = {u: a.variant for u, a in zip(population, high) if a.in_experiment}
    assert inside.items() <= now_inside.items()
    assert 0.55 < len(now_inside) / 3000 < 0.65
    assert node.table.lookups == 0  # raising disputes nothing

    # Lowering coverage takes out only users never assigned: the assigned stay.
    await node.update("cov", coverage=0.1)
    lowered = await node.assign_all("cov", population)
    kept = {u: a.variant for u, a in zip(population, lowered) if a.in_experiment}
    assert kept == now_inside
    newcomers = await node.assign_all("cov", users(3000, "late"))
    assert 0.05 < sum(a.in_experiment for a in newcomers) / 3000 < 0.15


async def test_inactive_answers_the_first_variant_outside_and_counts_nothing(node: Node) -> None:
    await node.create("off", ["control", "x"], active=False)
    answers = await node.assign_all("off", users(200))
    assert set(answers) == {Assignment("control", False)}
    assert (await node.ask(GetStats("off")))["total"] == 0
    await node.update("off", active=True)
    assert sum(a.variant == "x" for a in await node.assign_all("off", users(200))) > 50


# ------------------------------------------------------------ exposures, SRM


async def test_exposures_persist_in_batches_and_add_up(nursery: trio.Nursery, storage: Storage) -> None:
    node = await Node(storage, MemoryKV()).start(nursery)
    await node.create("exp", ["a", "b"])
    await node.assign_all("exp", users(500))
    await node.ask(Flush())
    rows = await storage.fetch("SELECT variant, count FROM experiment_exposures WHERE experiment_id = $1", "exp")
    assert sum(r["count"] for r in rows) == 500
    await node.assign_all("exp", users(500))  # in memory only
    assert (await node.ask(GetStats("exp")))["total"] == 1000
    await node.ask(Flush())
    await node.assign_all("exp", users(100))
    await node.stop()
    rows = await storage.fetch("SELECT variant, count FROM experiment_exposures WHERE experiment_id = $1", "exp")
    assert sum(r["count"] for r in rows) == 1100


async def test_the_flusher_writes_within_a_second(node: Node, storage: Storage) -> None:
    await node.create("exp", ["a", "b"])
    assigned_ms = time.time() * 1000
    await node.assign_all("exp", users(50))

    async def stored() -> bool:
        n = await storage.fetchval("SELECT count(*) FROM experiment_assignments WHERE experiment_id = $1", "exp")
        return n == 50

    await eventually(stored)  # unasked: only the flusher writes them
    # Each row carries the time a flush took it: the flusher took them within its
    # interval of a second (give or take the event loop's scheduling).
    taken_ms = await storage.fetchval(
        "SELECT max(assigned_at) FROM experiment_assignments WHERE experiment_id = $1", "exp")
    assert taken_ms - assigned_ms <= 1000 + SCHEDULING_MS


async def test_srm_flagged_on_a_skewed_count(node: Node) -> None:
    await node.create("exp", ["a", "b"])
    answers = await node.assign_all("exp", users(2000))
    stats = await node.ask(GetStats("exp"))
    assert stats["srm_detected"] is False
    # A client logging variant b twice (a classic SRM cause) skews the exposures.
    doubled = [u for u, a in zip(users(2000), answers) if a.variant == "b"][:300]
    await node.assign_all("exp", doubled)
    stats = await node.ask(GetStats("exp"))
    assert stats["srm_detected"] is True and stats["srm_p_value"] < 0.001
    assert stats["counts"]["b"] - stats["counts"]["a"] > 250
    assert stats["expected"] == {"a": pytest.approx(stats["total"] / 2), "b": pytest.approx(stats["total"] / 2)}


# ----------------------------------------------------------------- definitions


async def test_create_get_list_update(node: Node) -> None:
    created = await node.create("first", ["a", "b"])
    assert await node.ask(GetExperiment("first")) == created
    for i in range(4):
        await node.create(f"more-{i}", ["x", "y"])
    page = Listing({"page": 2, "page_size": 2}, CursorCodec(b"k"), "experiments.list")
    found = await node.ask(ListExperiments(page.page))
    assert [e.id for e in found.items] == ["more-1", "more-2"]
    assert page.info(found) == {"page": 2, "page_size": 2, "total": 5, "total_pages": 3, "has_next_page": True}
    seen, after = [], None
    while True:
        found = await node.ask(ListExperiments(KeysetPage(limit=2, after=after)))
        seen += [e.id for e in found.items]
        after = found.next_key
        if after is None:
            break
    assert seen == ["first", "more-0", "more-1", "more-2", "more-3"]

    updated = await node.update("first", coverage=0.5, active=False)
    assert (updated.coverage, updated.active, updated.variant_names) == (0.5, False, ("a", "b"))
    assert (await node.ask(GetExperiment("first"))).coverage == 0.5


async def test_definitions_survive_a_restart(nursery: trio.Nursery, storage: Storage) -> None:
    node = await Node(storage, MemoryKV()).start(nursery)
    created = await node.create("exp", weighted(("a", 1), ("b", 3)), coverage=0.8)
    updated = await node.update("exp", variants=weighted(("a", 1), ("b", 1)))
    await node.stop()
    again = await Node(storage, MemoryKV()).start(nursery)
    got = await again.ask(GetExperiment("exp"))
    assert got == updated and got.to_dict() == updated.to_dict()
    assert got.created_at == created.created_at


async def test_errors(node: Node) -> None:
    await node.create("exp", ["a", "b"])
    with pytest.raises(Conflict):
        await node.create("exp", ["a", "b"])
    with pytest.raises(NotFound):
        await node.ask(GetExperiment("nope"))
    with pytest.raises(NotFound):
        await node.assign("nope", "u1")
    with pytest.raises(NotFound):
        await node.update("nope", coverage=0.5)
    with pytest.raises(InvalidParams) as bad:
        await node.update("exp", variants=["b", "a"], coverage=2)
    assert {e["field"] for e in bad.value.errors} == {"variants", "coverage"}
    with pytest.raises(InvalidParams) as bad:
        await node.update("exp", variants=weighted(("a", -1), ("b", 1)))
    assert bad.value.errors[0]["field"] == "variants[0].weight"
    # The actor lives on after every rejection.
    assert (await node.assign("exp", "u1")).in_experiment


async def test_lookups_happen_outside_the_actor(node: Node) -> None:
    """A user in a disputed bucket with nothing cached: the table asks the caller to
    read storage, in the caller's task, instead of the actor waiting on it."""
    await node.create("exp", weighted(("a", 50), ("b", 50)))
    await node.update("exp", variants=weighted(("a", 10), ("b", 90)))
    live = node.table.live["exp"]
    from actors.experiments.buckets import bucket_of

    disputed_user = next(u for u in users(1000) if live.disputed[bucket_of(live.seed_bytes, u)])
    answer = node.table.assign("exp", disputed_user)
    assert answer == LookupNeeded("exp", disputed_user)
    assert (await node.assign("exp", disputed_user)).variant == "b"
