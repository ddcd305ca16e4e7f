"""The playback actor against real storage (SQLite and PostgreSQL), on a mock clock.

Time is frozen (`MockClock`) and moved by the tests with `clock.jump`, so flush and
idle timing are exact. The clock jumps by itself only after 5 real seconds with every
task blocked, which turns a hung test into a failure instead of a hang.
"""

from __future__ import annotations

import collections
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator, Callable

import pytest
import trio
import trio.testing

from actors.errors import InvalidParams, NotFound
from actors.paging import KeysetPage, OffsetPage
from actors.playback.actor import PlaybackActor, PlaybackStats
from actors.playback.intake import PositionIntake
from actors.playback.messages import Adopt, ContinueWatching, Flush, GetResume, Start, Stop
from actors.playback.model import PlaybackSettings, SessionKey, Started
from actors.playback.rules import ResumeRules
from actors.storage import Storage, StorageUnavailable
from runtime import ChildSpec, Supervisor

HOUR = 3_600_000
SHORT = 120_000  # two minutes: never offered a resume


class WallClock:
    """Deterministic wall clock: every reading is `step` milliseconds after the last."""

    def __init__(self) -> None:
        self.ms = 1_700_000_000_000
        self.step = 1

    def __call__(self) -> int:
        self.ms += self.step
        return self.ms


class Hold:
    """Holds the first statement `matches` picks until `release` is set (a write that
    takes its time), telling `entered` when one waits."""

    def __init__(self, matches: Callable[[str], bool]) -> None:
        self.matches = matches
        self.entered = trio.Event()
        self.release = trio.Event()

    async def __call__(self, sql: str) -> None:
        if self.matches(sql) and not self.entered.is_set():
            self.entered.set()
            await self.release.wait()


class CountingStorage:
    """The real storage, with every statement counted (an executemany batch is one),
    in transactions too; `hold` delays a chosen statement."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.calls: collections.Counter[str] = collections.Counter()
        self.rows_batched = 0
        self.fail_next_batch = 0
        self.hold: Hold | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    @property
    def statements(self) -> int:
        return sum(self.calls.values())

    async def _enter(self, kind: str, sql: str) -> None:
        self.calls[kind] += 1
        if self.hold is not None:
            await self.hold(sql)

    async def fetch(self, sql: str, *args: Any) -> Any:
        await self._enter("fetch", sql)
        return await self.inner.fetch(sql, *args)

    async def fetchrow(self, sql: str, *args: Any) -> Any:
        await self._enter("fetchrow", sql)
        return await self.inner.fetchrow(sql, *args)

    async def fetchval(self, sql: str, *args: Any) -> Any:
        await self._enter("fetchval", sql)
        return await self.inner.fetchval(sql, *args)

    async def execute(self, sql: str, *args: Any) -> Any:
        await self._enter("execute", sql)
        return await self.inner.execute(sql, *args)

    async def executemany(self, sql: str, rows: Any) -> None:
        await self._enter("executemany", sql)
        if self.fail_next_batch:
            self.fail_next_batch -= 1
            raise StorageUnavailable("database went away (test)")
        self.rows_batched += len(rows)
        await self.inner.executemany(sql, rows)

    @asynccontextmanager
    async def transaction(self, **options: Any) -> AsyncIterator["CountingStorage"]:
        async with self.inner.transaction(**options) as tx:
            counting = CountingStorage(tx)
            counting.calls, counting.hold = self.calls, self.hold
            yield counting


class Rig:
    """One playback actor under its own supervisor; `restart()` is a new process."""

    def __init__(self, nursery: trio.Nursery, storage: Storage, clock: trio.testing.MockClock,
                 settings: PlaybackSettings) -> None:
        self.nursery = nursery
        self.db = CountingStorage(storage)
        self.clock = clock
        self.settings = settings
        self.wall = WallClock()
        self.lags: list[float] = []

    async def start(self, intake: PositionIntake | None = None) -> None:
        self.intake = intake or PositionIntake(clock_ms=self.wall)
        self.stats = PlaybackStats()

        def make() -> PlaybackActor:
            return PlaybackActor(self.db, self.intake, self.settings, stats=self.stats,  # type: ignore[arg-type]
                                 on_flush=lambda rows, waits: self.lags.extend(waits), clock_ms=self.wall)

        self.supervisor = Supervisor("test", [ChildSpec("playback", make)])
        await self.nursery.start(self.supervisor.run)
        self.ref = self.supervisor.ref("playback")

    async def stop(self) -> None:
        await self.supervisor.stop()

    async def restart(self) -> None:
        await self.stop()
        await self.start()

    async def begin(self, user: str, content: str, duration: int = HOUR, device: str = "") -> Started:
        return await self.ref.ask(Start(user, content, duration, device))

    def send(self, started: Started | str, position: int, user: str | None = None) -> None:
        """What the playback.position handler does."""
        sid = started if isinstance(started, str) else started.session_id
        key = self.intake.sessions[sid]
        self.intake.lookup(sid, user or key.user_id)
        self.intake.offer(key, position)

    async def settle(self) -> None:
        """Let every task run until it waits for time (a write in a worker thread is
        waited for, so that time does not pass while it runs)."""
        await trio.testing.wait_all_tasks_blocked()
        with trio.fail_after(60):
            await self.stats.until(lambda: self.stats.writing == 0)

    async def pass_time(self, seconds: float) -> None:
        self.clock.jump(seconds)
        await self.settle()

    async def flushed(self, count: int) -> None:
        with trio.fail_after(60):
            await self.stats.until(lambda: self.stats.flushes >= count)

    async def stored(self, user: str, content: str) -> dict | None:
        return await self.db.inner.fetchrow(
            "SELECT position_ms, duration_ms, completed, updated_at FROM playback_positions"
            " WHERE user_id = $1 AND content_id = $2", user, content)

    async def session_row(self, sid: str) -> dict | None:
        return await self.db.inner.fetchrow("SELECT * FROM playback_sessions WHERE id = $1", sid)


@pytest.fixture
def clock() -> trio.testing.MockClock:
    return trio.testing.MockClock(autojump_threshold=5.0)


@pytest.fixture
def settings() -> PlaybackSettings:
    return PlaybackSettings(flush_interval=1.0, idle_timeout=60.0)


@pytest.fixture
async def rig(nursery: trio.Nursery, storage: Storage, clock: trio.testing.MockClock,
              settings: PlaybackSettings) -> AsyncIterator[Rig]:
    rig = Rig(nursery, storage, clock, settings)
    await rig.start()
    yield rig
    await rig.stop()


# -- resume across devices -------------------------------------------------------------


async def test_second_device_resumes_from_an_unflushed_update(clock: trio.testing.MockClock, rig: Rig) -> None:
    phone = await rig.begin("u1", "film", device="phone")
    assert phone.resume.position_ms == 0 and not phone.resume.offer_resume
    rig.send(phone, 1_800_000)
    tv = await rig.begin("u1", "film", device="tv")
    assert (tv.resume.position_ms, tv.resume.offer_resume) == (1_800_000, True)
    assert rig.stats.flushes == 0 and await rig.stored("u1", "film") is None  # from memory


async def test_the_last_update_wins_across_devices(clock: trio.testing.MockClock, rig: Rig) -> None:
    a = await rig.begin("u1", "film", device="a")
    b = await rig.begin("u1", "film", device="b")
    rig.send(a, 600_000)
    rig.send(b, 1_200_000)
    rig.send(a, 900_000)
    state = await rig.ref.ask(GetResume("u1", "film", HOUR))
    assert state.position_ms == 900_000
    await rig.ref.ask(Flush())
    assert (await rig.stored("u1", "film"))["position_ms"] == 900_000
    rig.send(b, 1_500_000)
    c = await rig.begin("u1", "film", device="c")
    assert c.resume.position_ms == 1_500_000


async def test_resume_after_a_restart_comes_from_storage(clock: trio.testing.MockClock, rig: Rig) -> None:
    s = await rig.begin("u1", "film")
    rig.send(s, 2_000_000)
    await rig.restart()
    again = await rig.begin("u1", "film")
    assert again.resume.position_ms == 2_000_000


async def test_users_do_not_see_each_others_positions(clock: trio.testing.MockClock, rig: Rig) -> None:
    s = await rig.begin("u1", "film")
    rig.send(s, 2_000_000)
    other = await rig.begin("u2", "film")
    assert other.resume.position_ms == 0


# -- ownership and input ------------------------------------------------------------------


async def test_another_users_session_is_not_found(clock: trio.testing.MockClock, rig: Rig) -> None:
    s = await rig.begin("u1", "film")
    with pytest.raises(NotFound):
        rig.intake.lookup(s.session_id, "u2")
    with pytest.raises(NotFound):
        await rig.ref.ask(Adopt(s.session_id, "u2"))
    with pytest.raises(NotFound):
        await rig.ref.ask(Stop("u2", s.session_id, 10_000))
    with pytest.raises(NotFound):
        await rig.ref.ask(Adopt("no-such-session", "u1"))
    # The owner's session is untouched.
    assert (await rig.ref.ask(Stop("u1", s.session_id))).completed is False


@pytest.mark.parametrize("position", [-1, HOUR + 1])
async def test_positions_outside_the_item_are_invalid(clock: trio.testing.MockClock, rig: Rig, position: int) -> None:
    s = await rig.begin("u1", "film")
    with pytest.raises(InvalidParams) as info:
        rig.send(s, position)
    assert info.value.errors[0]["field"] == "position_ms"
    with pytest.raises(InvalidParams):
        await rig.ref.ask(Stop("u1", s.session_id, position))
    rig.send(s, HOUR)  # both ends are fine
    rig.send(s, 0)
    assert rig.intake.received == 2


async def test_unknown_duration_accepts_any_position(clock: trio.testing.MockClock, rig: Rig) -> None:
    s = await rig.begin("u1", "live", duration=0)
    rig.send(s, 10 * HOUR)
    stopped = await rig.ref.ask(Stop("u1", s.session_id))
    assert (stopped.position_ms, stopped.completed) == (0, False)


# -- write-behind ---------------------------------------------------------------------------


async def test_an_update_is_written_one_interval_after_it_arrived(clock: trio.testing.MockClock, rig: Rig) -> None:
    s = await rig.begin("u1", "film")
    before = rig.db.calls["executemany"]
    rig.send(s, 1_000_000)
    await rig.pass_time(0.999)
    assert rig.stats.flushes == 0 and await rig.stored("u1", "film") is None
    rig.send(s, 1_100_000)  # coalesced into the same write
    rig.clock.jump(0.002)
    await rig.flushed(1)
    row = await rig.stored("u1", "film")
    assert row["position_ms"] == 1_100_000 and row["duration_ms"] == HOUR and row["completed"] == 0
    assert rig.db.calls["executemany"] - before == 1
    assert rig.lags == [pytest.approx(1.001)]
    assert rig.stats.unflushed == 0


async def test_a_burst_of_updates_is_a_bounded_number_of_writes(clock: trio.testing.MockClock, rig: Rig) -> None:
    sessions = [await rig.begin(f"u{i}", "film") for i in range(5)]
    statements = rig.db.statements
    updates = 0
    for step in range(300):  # 3 s of 10 ms steps
        for s in sessions:
            for k in range(7):  # 700 updates per second per session
                rig.send(s, 1000 * step + k)
                updates += 1
        await rig.pass_time(0.01)
    for _ in range(100):
        await rig.pass_time(0.01)
    await rig.flushed(3)
    written = rig.db.statements - statements
    assert updates == 10_500
    assert rig.db.calls["executemany"] <= 4 and written <= 4  # one batch per interval
    assert rig.db.rows_batched <= 4 * len(sessions)
    assert rig.intake.coalesced >= updates - 5 * 4 * len(sessions)
    for i in range(5):
        assert (await rig.stored(f"u{i}", "film"))["position_ms"] == 1000 * 299 + 6
    assert max(rig.lags) <= 1.0 + 0.01 + 1e-6  # the interval, give or take one 10 ms step


async def test_a_failed_write_is_retried_with_the_latest_positions(clock: trio.testing.MockClock, rig: Rig) -> None:
    s = await rig.begin("u1", "film")
    rig.db.fail_next_batch = 1
    rig.send(s, 500_000)
    await rig.pass_time(1.0)
    assert rig.stats.flush_failures == 1 and await rig.stored("u1", "film") is None
    rig.send(s, 600_000)
    await rig.pass_time(1.0)
    await rig.flushed(1)
    assert (await rig.stored("u1", "film"))["position_ms"] == 600_000


async def test_an_orderly_stop_writes_everything(clock: trio.testing.MockClock, rig: Rig) -> None:
    sessions = [await rig.begin("u1", f"c{i}") for i in range(3)]
    for i, s in enumerate(sessions):
        rig.send(s, 400_000 + i)
    assert rig.stats.flushes == 0
    await rig.stop()
    for i in range(3):
        assert (await rig.stored("u1", f"c{i}"))["position_ms"] == 400_000 + i
    await rig.start()


async def test_a_session_is_taken_over_after_a_restart(clock: trio.testing.MockClock, rig: Rig) -> None:
    s = await rig.begin("u1", "film", device="tv")
    rig.send(s, 700_000)
    await rig.restart()  # a fresh intake: as after a process restart
    assert rig.intake.lookup(s.session_id, "u1") is None
    key = await rig.ref.ask(Adopt(s.session_id, "u1"))
    assert key == SessionKey(s.session_id, "u1", "film", HOUR, "tv")
    rig.send(s, 800_000)
    assert (await rig.session_row(s.session_id))["device_id"] == "tv"
    stopped = await rig.ref.ask(Stop("u1", s.session_id))
    assert stopped.position_ms == 800_000


# -- sessions ---------------------------------------------------------------------------------


async def test_stop_answers_where_to_resume_and_closes_the_session(clock: trio.testing.MockClock, rig: Rig) -> None:
    s = await rig.begin("u1", "film")
    rig.send(s, 100_000)
    stopped = await rig.ref.ask(Stop("u1", s.session_id, 1_234_000))
    assert (stopped.position_ms, stopped.completed) == (1_234_000, False)
    # Written at once, with the session's end (storage keeps open sessions only).
    assert (await rig.stored("u1", "film"))["position_ms"] == 1_234_000
    assert await rig.session_row(s.session_id) is None
    assert s.session_id not in rig.intake.sessions
    with pytest.raises(NotFound):
        await rig.ref.ask(Stop("u1", s.session_id))
    with pytest.raises(NotFound):
        await rig.ref.ask(Adopt(s.session_id, "u1"))


async def test_idle_sessions_close_after_the_timeout(clock: trio.testing.MockClock, rig: Rig) -> None:
    idle = await rig.begin("u1", "film")
    busy = await rig.begin("u1", "other")
    for sweeps in range(1, 6):  # sweeps every 15 s; the busy session reports before each
        rig.send(busy, 60_000)
        clock.jump(15.0)
        with trio.fail_after(60):
            await rig.stats.until(lambda: rig.stats.sweeps >= sweeps)
        # Idle for 60 s at the fourth sweep: closed then, not before.
        assert (idle.session_id in rig.intake.sessions) == (sweeps < 4)
    assert busy.session_id in rig.intake.sessions
    assert await rig.session_row(idle.session_id) is None
    assert (await rig.session_row(busy.session_id))["ended_at"] is None
    with pytest.raises(NotFound):
        await rig.ref.ask(Adopt(idle.session_id, "u1"))


async def test_starting_past_the_per_user_limit_closes_the_least_recent(
        nursery: trio.Nursery, storage: Storage, clock: trio.testing.MockClock) -> None:
    rig = Rig(nursery, storage, clock, PlaybackSettings(max_sessions_per_user=2))
    await rig.start()
    first = await rig.begin("u1", "a")
    second = await rig.begin("u1", "b")
    await rig.pass_time(1.0)
    rig.send(first, 1000)  # the first is now the more recently seen
    await rig.begin("u1", "c")
    assert first.session_id in rig.intake.sessions
    assert second.session_id not in rig.intake.sessions
    await rig.stop()


# -- continue watching --------------------------------------------------------------------------


async def watch(rig: Rig, user: str, content: str, position: int, duration: int = HOUR) -> None:
    s = await rig.begin(user, content, duration)
    rig.send(s, position)
    await rig.ref.ask(Stop(user, s.session_id))


async def test_continue_watching_most_recent_first_without_finished_items(clock: trio.testing.MockClock, rig: Rig) -> None:
    await watch(rig, "u1", "a", 600_000)
    await watch(rig, "u1", "done", HOUR - 10)  # finished
    await watch(rig, "u1", "b", 1_200_000)
    await watch(rig, "u1", "sampled", 60_000)  # under 5 %
    await watch(rig, "u1", "clip", 60_000, duration=SHORT)  # too short to resume
    await watch(rig, "u2", "x", 900_000)  # someone else's
    s = await rig.begin("u1", "c")
    rig.send(s, 1_800_000)  # not written yet: listing writes it first
    found = await rig.ref.ask(ContinueWatching("u1", OffsetPage(1, 10)))
    items = found.items
    assert [(i.content_id, i.position_ms) for i in items] == [("c", 1_800_000), ("b", 1_200_000), ("a", 600_000)]
    assert items[0].progress == pytest.approx(0.5)
    assert found.total == 3 and found.next_key is None
    assert items[0].updated_at > items[1].updated_at > items[2].updated_at


async def test_most_recent_first_within_one_millisecond(clock: trio.testing.MockClock, rig: Rig) -> None:
    """Updates of one user within the same millisecond still come out in the order they
    came in (an app stopping one item and starting the next at once)."""
    rig.wall.step = 0
    for content in ("a", "b", "c"):
        await watch(rig, "u1", content, 600_000)
    s = await rig.begin("u1", "b")
    rig.send(s, 900_000)  # b again, reported but not written yet
    await watch(rig, "u2", "a", 600_000)  # someone else's, same millisecond
    found = await rig.ref.ask(ContinueWatching("u1", OffsetPage(1, 10)))
    assert [i.content_id for i in found.items] == ["b", "c", "a"]
    assert found.items[0].updated_at > found.items[1].updated_at > found.items[2].updated_at
    await rig.ref.ask(Flush())
    rig.wall.step = 1  # the clock moves on: stamps follow it again
    await watch(rig, "u1", "a", 700_000)
    found = await rig.ref.ask(ContinueWatching("u1", OffsetPage(1, 10)))
    assert [i.content_id for i in found.items] == ["a", "b", "c"]


async def test_continue_watching_pages_by_cursor(clock: trio.testing.MockClock, rig: Rig) -> None:
    for i in range(7):
        await watch(rig, "u1", f"c{i}", 600_000 + i)
    seen = []
    after = None
    while True:
        found = await rig.ref.ask(ContinueWatching("u1", KeysetPage(3, after)))
        seen += [i.content_id for i in found.items]
        after = found.next_key
        if after is None:
            break
    assert seen == [f"c{i}" for i in reversed(range(7))]
    found = await rig.ref.ask(ContinueWatching("u1", OffsetPage(3, 3)))
    assert [i.content_id for i in found.items] == ["c0"] and found.total == 7


RULE_CASES = [
    (0, HOUR), (179_999, HOUR), (180_000, HOUR), (1_800_000, HOUR), (3_240_000, HOUR),
    (3_240_001, HOUR), (HOUR - 1000, HOUR), (HOUR, HOUR), (150_000, 299_999), (150_000, 300_000),
    (14_950, 299_000), (270_000, 299_000), (4_000, 5_000), (3_999, 5_000), (60_000, 0),
]


@pytest.mark.parametrize("rules", [ResumeRules(), ResumeRules(min_resume_pct=2.5, min_resume_duration_s=0),
                                   ResumeRules(min_resume_duration_s=3600, max_resume_pct=50)])
async def test_continue_watching_agrees_with_the_resume_rules(
        nursery: trio.Nursery, storage: Storage, clock: trio.testing.MockClock, rules: ResumeRules) -> None:
    """The listing's SQL filter and `ResumeRules.evaluate` say the same thing."""
    rig = Rig(nursery, storage, clock, PlaybackSettings(rules=rules))
    await rig.start()
    expected = []
    for i, (position, duration) in enumerate(RULE_CASES):
        await watch(rig, "u1", f"c{i:02d}", position, duration)
        decision = rules.evaluate(position, duration)
        if decision.offer_resume:
            expected.append((f"c{i:02d}", decision.position_ms))
        state = await rig.ref.ask(GetResume("u1", f"c{i:02d}", duration))
        assert (state.position_ms, state.offer_resume, state.completed) == (
            decision.position_ms, decision.offer_resume, decision.completed)
    found = await rig.ref.ask(ContinueWatching("u1", OffsetPage(1, 100)))
    assert sorted((i.content_id, i.position_ms) for i in found.items) == expected
    await rig.stop()


@pytest.mark.parametrize(
    ("position", "duration", "resume_at", "offer", "completed"),
    [
        (1_800_000, HOUR, 1_800_000, True, False),
        (100_000, HOUR, 0, False, False),  # under 5 %
        (3_300_000, HOUR, 0, False, True),  # past 90 %
        (150_000, 299_000, 0, False, False),  # short content
        (298_500, 299_000, 0, False, True),  # its last second
    ],
)
async def test_stop_then_start_follows_the_rules(clock: trio.testing.MockClock, rig: Rig, position: int, duration: int, resume_at: int,
                                                 offer: bool, completed: bool) -> None:
    s = await rig.begin("u1", "film", duration)
    stopped = await rig.ref.ask(Stop("u1", s.session_id, position))
    assert (stopped.position_ms, stopped.completed) == (resume_at, completed)
    again = await rig.begin("u1", "film", duration)
    assert (again.resume.position_ms, again.resume.offer_resume) == (resume_at, offer)
    assert (await rig.stored("u1", "film"))["completed"] == int(completed)


def _ends_a_session(sql: str) -> bool:
    return "playback_sessions" in sql and "id = $" in sql and ("DELETE" in sql or "ended_at = $1" in sql)


async def test_a_stop_answers_its_position_while_a_sweep_runs(clock: trio.testing.MockClock, rig: Rig,
                                                               nursery: trio.Nursery) -> None:
    """Found by the soak (1 stop in 1,260 answered 0): the sweep that ran while the
    session's end was being written dropped the entry the answer was then read from."""
    s = await rig.begin("u1", "film")
    rig.send(s, 1_000_000)
    rig.db.hold = hold = Hold(_ends_a_session)
    answers: list[Any] = []

    async def stop() -> None:
        answers.append(await rig.ref.ask(Stop("u1", s.session_id, 1_200_000), timeout=None))

    nursery.start_soon(stop)
    with trio.fail_after(60):
        await hold.entered.wait()
    # A sweep now, while the end waits (one that must wait for the end's write may
    # give up: let time run on by itself meanwhile).
    clock.autojump_threshold = 0.05
    before = rig.stats.sweeps
    clock.jump(rig.settings.sweep_interval)
    with trio.fail_after(60):
        await rig.stats.until(lambda: rig.stats.sweeps > before)
    hold.release.set()
    with trio.fail_after(60):
        while not answers:
            await trio.sleep(0.01)
    assert (answers[0].position_ms, answers[0].completed) == (1_200_000, False)
    assert (await rig.stored("u1", "film"))["position_ms"] == 1_200_000


async def test_sessions_of_a_dead_node_are_deleted_once_older_than_any_live_one(
        clock: trio.testing.MockClock, rig: Rig) -> None:
    """Storage keeps open sessions only: an ended one is deleted at once, and one whose
    node died (nobody will close it) by any node's sweep once unseen for longer than
    the idle timeout and two sweeps."""
    live = await rig.begin("u1", "film")
    orphaned_at = rig.wall.ms - int((rig.settings.idle_timeout + 2 * rig.settings.sweep_interval) * 1000)
    for sid, seen in (("orphan", orphaned_at - 1_000), ("recent", orphaned_at + 60_000)):
        await rig.db.inner.execute(
            "INSERT INTO playback_sessions (id, user_id, content_id, device_id, position_ms, started_at,"
            " last_seen_at, duration_ms) VALUES ($1, 'u2', 'film', '', 0, $2, $2, $3)", sid, seen, HOUR)
    sweeps = rig.stats.sweeps
    clock.jump(rig.settings.sweep_interval)
    with trio.fail_after(60):
        await rig.stats.until(lambda: rig.stats.sweeps > sweeps)
    assert await rig.session_row("orphan") is None
    assert await rig.session_row("recent") is not None and await rig.session_row(live.session_id) is not None
