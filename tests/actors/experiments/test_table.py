"""The assignment table and the bucket claims, without storage: what is answered from
memory, what needs a look-up, the write-behind buffers and the bounds."""

from __future__ import annotations

import time

import pytest
import trio

from actors import experiments
from actors.env import DomainEnv
from actors.errors import NotFound, TimedOut
from actors.experiments.hashing import hash_v2
from actors.experiments.buckets import (
    BUCKETS,
    OUT,
    bucket_of,
    claims_of,
    decode_claims,
    disputed_buckets,
    encode_claims,
    merge_claims,
    variant_table,
)
from actors.experiments.model import Experiment, create_experiment, update_experiment
from actors.experiments.store import StoredExperiment
from actors.experiments.table import Assignment, AssignmentTable, LookupNeeded
from actors.experiments.writes import runs_of
from actors.kv import MemoryKV
from actors.quota import Quota, QuotaLimits
from runtime import Registry
from tests.actors.experiments.oracle import assign

USERS = [f"user-{i:05d}" for i in range(5000)]


def make(variants: object = ("a", "b"), **params: object) -> Experiment:
    return create_experiment({"id": "exp", "name": "E", "variants": list(variants), **params}, 0.0)  # type: ignore[call-overload]


def weighted(*weights: float) -> list[dict[str, object]]:
    return [{"name": "abcdefgh"[i], "weight": w} for i, w in enumerate(weights)]


def stored(experiment: Experiment, revision: int = 1, history: tuple[Experiment, ...] = ()) -> StoredExperiment:
    claims = [0] * BUCKETS
    for e in (*history, experiment):
        if e.active:
            claims = merge_claims(claims, variant_table(e))
    return StoredExperiment(experiment, encode_claims(claims), revision)


# ---------------------------------------------------------------------- buckets


@pytest.mark.parametrize("coverage", [1.0, 0.37, 0.0])
@pytest.mark.parametrize("variants", [("a", "b"), weighted(20, 30, 50), weighted(1, 0, 2)])
def test_variant_table_is_the_pure_assignment(variants: object, coverage: float) -> None:
    experiment = make(variants, coverage=coverage)
    table = variant_table(experiment)
    for user in USERS[:2000]:
        bucket = bucket_of(experiment.seed_bytes, user)
        assert bucket / BUCKETS == hash_v2(experiment.seed, user)
        expected = assign(experiment, user)
        got = table[bucket]
        assert (got == OUT) == (not expected.in_experiment)
        if got != OUT:
            assert experiment.variant_names[got] == expected.variant


def test_claims_round_trip_as_runs() -> None:
    claims = merge_claims(claims_of(variant_table(make(weighted(20, 30, 50), coverage=0.5))),
                          variant_table(make(weighted(50, 30, 20))))
    text = encode_claims(claims)
    assert len(text) < 200
    assert decode_claims(text) == claims
    assert decode_claims("[]") == decode_claims(None) == [0] * BUCKETS


def test_what_a_change_disputes() -> None:
    even = make(weighted(50, 50))
    table = variant_table(even)
    # Unchanged, or coverage raised: nothing disputed.
    assert not any(disputed_buckets(claims_of(table), table))
    half = update_experiment(even, {"coverage": 0.5}, 0.0)
    assert not any(disputed_buckets(claims_of(variant_table(half)), table))
    # Weights 50/50 -> 10/90: the buckets from 0.1 to 0.5 moved from a to b.
    skewed = variant_table(update_experiment(even, {"variants": weighted(10, 90)}, 0.0))
    disputed = disputed_buckets(merge_claims(claims_of(table), skewed), skewed)
    assert sum(disputed) == 4000 and all(disputed[1000:5000])
    # Coverage lowered: the buckets it takes out are disputed (their users stay in).
    low = variant_table(update_experiment(even, {"coverage": 0.2}, 0.0))
    assert sum(disputed_buckets(merge_claims(claims_of(table), low), low)) == 8000


# ------------------------------------------------------------------------ table


def test_answers_from_memory_and_records_first_assignments_once() -> None:
    table = AssignmentTable()
    experiment = make(("a", "b", "c"))
    table.install(stored(experiment))
    answers = [table.assign("exp", u) for u in USERS]
    assert answers == [assign(experiment, u) for u in USERS]
    assert table.pending_count() == len(USERS)
    assert [table.assign("exp", u) for u in USERS] == answers  # cached, not re-recorded
    assert table.pending_count() == len(USERS)
    assert sum(table.unwritten_counts("exp").values()) == 2 * len(USERS)
    assert table.lookups == 0
    with pytest.raises(NotFound):
        table.assign("nope", "u")


def test_inactive_and_outside_coverage_are_neither_recorded_nor_counted() -> None:
    table = AssignmentTable()
    table.install(stored(make(("a", "b"), active=False)))
    assert {table.assign("exp", u) for u in USERS[:100]} == {Assignment("a", False)}
    table.install(stored(make(("a", "b"), coverage=0.0), revision=2))
    assert {table.assign("exp", u) for u in USERS[:100]} == {Assignment("a", False)}
    assert not table.pending_count() and sum(table.unwritten_counts("exp").values()) == 0


def test_disputed_users_need_a_look_up_once() -> None:
    table = AssignmentTable()
    before = make(weighted(50, 50))
    after = update_experiment(before, {"variants": weighted(10, 90)}, 0.0)
    table.install(stored(after, revision=2, history=(before,)))
    live = table.live["exp"]
    moved = [u for u in USERS if live.disputed[bucket_of(live.seed_bytes, u)]]
    assert 0.35 < len(moved) / len(USERS) < 0.45
    # Recorded under the old weights (storage says "a"): the old answer sticks.
    user = moved[0]
    assert table.assign("exp", user) == LookupNeeded("exp", user)
    assert table.resolve("exp", user, "a") == Assignment("a", True)
    assert table.assign("exp", user) == Assignment("a", True)  # now cached
    # Never recorded: the new weights, recorded now.
    other = moved[1]
    assert table.assign("exp", other) == LookupNeeded("exp", other)
    assert table.resolve("exp", other, None) == assign(after, other)
    live = table.live["exp"]
    assert live.names[live.unwritten.pending[other]] == assign(after, other).variant
    assert table.lookups == 2


def test_buffered_records_answer_without_a_look_up() -> None:
    """A user assigned here and not yet written is known, pending or in flight."""
    table = AssignmentTable(cache_size=1)
    before = make(weighted(50, 50))
    table.install(stored(before))
    live = table.live["exp"]
    after = update_experiment(before, {"variants": weighted(10, 90)}, 0.0)
    late = stored(after, revision=2, history=(before,))
    disputed = disputed_buckets(merge_claims(claims_of(live.table), variant_table(after)), variant_table(after))
    moved = [u for u in USERS if disputed[bucket_of(live.seed_bytes, u)]]
    first = {u: table.assign("exp", u) for u in moved[:50]}  # cache holds only the last
    table.install(late)
    assert {u: table.assign("exp", u) for u in moved[:50]} == first
    batch = table.take_pending()
    assert {row[1] for run in runs_of(batch) for row in run} >= set(moved[:49])
    assert {u: table.assign("exp", u) for u in moved[:50]} == first  # in flight
    assert table.lookups == 0


def test_flushes_take_stamped_parts_and_keep_what_storage_did_not_confirm() -> None:
    table = AssignmentTable(flush_batch=100)
    table.install(stored(make(("a", "b"))))
    for u in USERS[:250]:
        table.assign("exp", u)
    exposures = table.take_exposures()
    assert sum(n for _, _, n in exposures) == 250
    assert sum(table.unwritten_counts("exp").values()) == 0
    before = int(time.time() * 1000)
    parts = table.take_pending()
    assert [len(p.users) for p in parts] == [100, 100, 50]
    variant = {u: table.assign("exp", u).variant for u in USERS[:250]}  # type: ignore[union-attr]
    runs = [list(part.runs()) for part in parts]
    # Oldest first; in each part a run per variant, users in the order they came.
    assert [row[1] for part in runs for run in part for row in run] == [
        u for start in (0, 100, 200) for v in ("a", "b") for u in USERS[start:start + 100][:250 - start]
        if variant[u] == v]
    assert all(len({(row[0], row[2], row[3]) for row in run}) == 1 for part in runs for run in part)
    rows = [row for part in runs for run in part for row in run]
    assert all(row[0] == "exp" and row[2] == variant[row[1]] and before <= row[3] <= time.time() * 1000
               for row in rows)
    assert table.pending_count() == 0 and table.unwritten_count() == 250
    # Storage failed: the counts come back, the parts stay for the next flush.
    table.give_back(exposures)
    assert sum(table.unwritten_counts("exp").values()) == 250 + 250
    table.assign("exp", USERS[250])
    again = table.take_pending()
    assert again[:3] == parts and len(again) == 4 and list(again[3].users) == [USERS[250]]
    table.written(again[:2])
    assert table.buffered_count() == 51
    table.written(again[2:])
    assert table.buffered_count() == 0 and table.take_pending() == []


def test_bounds() -> None:
    full: list[int] = []
    table = AssignmentTable(cache_size=100, max_pending=300, flush_batch=200,
                            on_backlog=lambda: full.append(table.pending_count()))
    table.install(stored(make(("a", "b"))))
    for u in USERS[:1000]:
        table.assign("exp", u)
    assert table.cached_count() <= 100
    # Never more than max_pending; dropped in steps of flush_batch // 16 below it.
    assert 300 - 12 <= table.pending_count() <= 300 and table.writes.dropped == 1000 - table.pending_count()
    assert full and full[0] == 200
    # The oldest went first.
    kept = list(table.live["exp"].unwritten.pending)
    assert kept == USERS[1000 - len(kept):1000]


def test_a_backlog_is_checked_every_step_not_on_every_first_assignment() -> None:
    checks: list[int] = []
    table = AssignmentTable(max_pending=10_000, flush_batch=160, on_backlog=lambda: checks.append(table.pending_count()))
    table.install(stored(make(("a", "b"))))
    for u in USERS[:1000]:
        table.assign("exp", u)
    # At 160, then every 10 (160 // 16) more: not 841 times.
    assert checks == list(range(160, 1001, 10))
    table.take_pending()
    table.assign("exp", USERS[1000])
    assert checks[-1] == 1  # a flush took them and storage has not confirmed: still a backlog


def test_a_long_outage_drops_the_oldest_whole_parts_first() -> None:
    table = AssignmentTable(max_pending=500, flush_batch=100)
    table.install(stored(make(("a", "b"))))
    for u in USERS[:450]:
        table.assign("exp", u)
    parts = table.take_pending()  # storage fails: never written
    assert [len(part.users) for part in parts] == [100, 100, 100, 100, 50]
    for u in USERS[450:1000]:
        table.assign("exp", u)
    assert table.buffered_count() <= 500 and table.writes.dropped == 1000 - table.buffered_count()
    live = table.live["exp"]
    held = [u for part in live.unwritten.parts for u in part.users] + list(live.unwritten.pending)
    assert held == USERS[1000 - len(held):1000]  # the newest kept, in order
    assert all(part.users for part in live.unwritten.parts)


def test_the_cache_keeps_what_was_used_lately_within_its_bound() -> None:
    table = AssignmentTable(cache_size=100)
    table.install(stored(make(("a", "b"))))
    table.install(stored(create_experiment({"id": "other", "name": "O", "variants": ["a", "b"]}, 0.0)))
    for _ in range(3):
        for i, u in enumerate(USERS[:1000]):
            table.assign("exp" if i % 2 else "other", u)
            table.assign("exp", USERS[4999])  # used between every two new users
            assert table.cached_count() <= 100  # across experiments
    assert table.is_cached("exp", USERS[4999])
    assert not table.is_cached("exp", USERS[1]) and not table.is_cached("other", USERS[0])
    # The last 49 new users (half the bound, less the one used all along) are all there.
    assert all(table.is_cached("exp" if i % 2 else "other", USERS[i]) for i in range(951, 1000))
    assert table.lookups == 0 and table.pending_count() == 1001


def test_a_change_makes_outside_answers_stale() -> None:
    table = AssignmentTable()
    before = make(weighted(50, 50))
    lowered = update_experiment(before, {"coverage": 0.1}, 0.0)
    table.install(stored(lowered, revision=2, history=(before,)))
    live = table.live["exp"]
    out_user = next(u for u in USERS if live.disputed[bucket_of(live.seed_bytes, u)]
                    and not assign(lowered, u).in_experiment)
    assert isinstance(table.assign("exp", out_user), LookupNeeded)
    assert table.resolve("exp", out_user, None) == Assignment("a", False)
    assert table.assign("exp", out_user) == Assignment("a", False)  # remembered at revision 2
    raised = update_experiment(lowered, {"coverage": 1.0}, 0.0)
    table.install(stored(raised, revision=3, history=(before, lowered)))
    answer = table.assign("exp", out_user)
    assert answer == assign(raised, out_user) or isinstance(answer, LookupNeeded)


class _HangingStorage:
    """A database that never answers (the look-up's bound is what is tested)."""

    async def fetchval(self, sql: str, *args: object) -> object:
        await trio.sleep_forever()


async def test_a_look_up_is_bounded(autojump_clock: object) -> None:
    table = AssignmentTable()
    before = make(weighted(50, 50))
    after = update_experiment(before, {"variants": weighted(10, 90)}, 0.0)
    table.install(stored(after, revision=2, history=(before,)))
    live = table.live["exp"]
    user = next(u for u in USERS if live.disputed[bucket_of(live.seed_bytes, u)])
    env = DomainEnv(_HangingStorage(), MemoryKV(), Registry(), "n1")  # type: ignore[arg-type]
    domain = experiments.start(env, experiments.ExperimentsSettings(lookup_timeout=1.0), table=table)
    start = trio.current_time()
    with pytest.raises(TimedOut):
        await domain.assign("exp", user)
    assert trio.current_time() - start == pytest.approx(1.0)
    assert not table.pending_count()  # nothing recorded for an unanswered call


# ------------------------------------------------------- callers not vouched for


class Connection:
    """Stands for a client connection (the quota holds it weakly, as the real one)."""


def test_first_answers_past_the_quota_are_given_but_neither_recorded_nor_cached() -> None:
    table = AssignmentTable(quota=Quota(QuotaLimits(rate=1000.0, per_connection=3)))
    table.install(stored(make()))
    anonymous = Connection()
    answers = [table.assign("exp", user, anonymous) for user in USERS[:5]]
    assert answers == [table.assign("exp", user) for user in USERS[:5]]  # the same answers either way
    assert table.pending_count() == 5  # 3 under the quota, then the two asked for by someone vouched for
    assert table.quota.refused == {"connection": 2, "node": 0}
    assert [table.is_cached("exp", u) for u in USERS[:5]] == [True] * 5
    # Past the quota again: nothing recorded, nothing kept.
    extra = table.assign("exp", USERS[10], anonymous)
    assert isinstance(extra, Assignment) and not table.is_cached("exp", USERS[10])
    assert table.pending_count() == 5
    # Another connection has its own count; the node's bucket counts them all.
    table.assign("exp", USERS[11], Connection())
    assert table.pending_count() == 6


def test_at_rate_zero_no_first_answer_of_such_callers_is_recorded() -> None:
    table = AssignmentTable(quota=Quota(QuotaLimits(rate=0.0, per_connection=100)))
    table.install(stored(make()))
    for user in USERS[:20]:
        table.assign("exp", user, Connection())
    assert table.pending_count() == 0 and table.quota.refused["node"] == 20
    table.assign("exp", USERS[0])  # vouched for: recorded
    assert table.pending_count() == 1
