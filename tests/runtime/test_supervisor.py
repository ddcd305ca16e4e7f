"""Supervisors: strategies, restart types, intensity and escalation, backoff, ordering,
shutdown timeouts, registration and lifecycle events."""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from typing import Any

import attrs
import pytest
import trio
import trio.testing

from runtime import (
    Actor,
    ActorStopped,
    ChildSpec,
    Registry,
    Restart,
    Strategy,
    Supervisor,
    SupervisorGaveUp,
)


class Boom(Exception):
    pass


@attrs.frozen
class Crash:
    """Makes the worker crash on its own (in a helper task), not on this message: such
    crashes count against the intensity. Crashes on a message: tests/runtime/test_poison.py."""


@attrs.frozen
class Ping:
    pass


@attrs.frozen
class StopSelf:
    pass


@attrs.frozen
class Hang:
    pass


class Recorder:
    """Collects lifecycle events (the `on_event` hook) and actor callbacks, with the
    fake-clock time of each; lets a test wait for a condition without sleeping."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.log: list[tuple[str, str]] = []
        self._changed = trio.Event()

    def __call__(self, event: dict[str, Any]) -> None:
        self.events.append({**event, "at": trio.current_time()})
        self._poke()

    def note(self, what: str, name: str) -> None:
        self.log.append((what, name))
        self._poke()

    def _poke(self) -> None:
        self._changed.set()
        self._changed = trio.Event()

    def names(self, event: str) -> list[str]:
        return [e["actor"] for e in self.events if e["event"] == event]

    def of(self, event: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["event"] == event]

    async def until(self, predicate: Callable[[], bool]) -> None:
        # Under the autojump clock a deadlock turns into a prompt TooSlowError.
        with trio.fail_after(600):
            while not predicate():
                await self._changed.wait()

    def mark(self) -> int:
        self.log.clear()
        n = len(self.events)
        return n

    def since(self, mark: int, event: str) -> list[str]:
        return [e["actor"] for e in self.events[mark:] if e["event"] == event]


class Worker(Actor):
    def __init__(self, rec: Recorder, *, fail_start: int = 0, stopping_takes: float = 0) -> None:
        self.rec = rec
        self.fail_start = fail_start
        self.stopping_takes = stopping_takes

    async def started(self) -> None:
        if self.fail_start:
            raise Boom("cannot start")
        self.rec.note("started", self.name)

    async def receive(self, msg: object) -> object:
        match msg:
            case Crash():
                self.start_soon(self._crash)
                await trio.sleep_forever()
            case StopSelf():
                self.stop()
                return "bye"
            case Hang():
                await trio.sleep_forever()
        return self.name

    async def _crash(self) -> None:
        raise Boom(self.name)

    async def stopping(self) -> None:
        self.rec.note("stopping", self.name)
        await trio.sleep(self.stopping_takes)
        self.rec.note("stopped", self.name)


def specs(rec: Recorder, *names: str, **kw: Any) -> list[ChildSpec]:
    return [ChildSpec(n, lambda: Worker(rec), **kw) for n in names]


async def crash(sup: Supervisor, name: str) -> None:
    with pytest.raises(ActorStopped):
        await sup.ref(name).ask(Crash())


# -- strategies -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("strategy", "stopped", "restarted"),
    [
        # b crashes; "stopped" lists stopping() calls in order (b's own comes first,
        # since a crashed actor flushes before the supervisor acts).
        (Strategy.ONE_FOR_ONE, ["b"], ["b"]),
        (Strategy.ONE_FOR_ALL, ["b", "d", "c", "a"], ["a", "b", "c", "d"]),
        (Strategy.REST_FOR_ONE, ["b", "d", "c"], ["b", "c", "d"]),
    ],
)
async def test_strategy_restarts_exactly_the_right_children(
    autojump_clock: trio.testing.MockClock,
    strategy: Strategy,
    stopped: list[str],
    restarted: list[str],
) -> None:
    rec = Recorder()
    sup = Supervisor("sup", specs(rec, "a", "b", "c", "d"), strategy=strategy, on_event=rec)
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        assert [n for what, n in rec.log if what == "started"] == ["a", "b", "c", "d"]
        mark = rec.mark()
        await crash(sup, "b")
        await rec.until(lambda: len(rec.since(mark, "actor.start")) == len(restarted))
        assert rec.since(mark, "actor.crash") == ["b"]
        assert [n for what, n in rec.log if what == "stopping"] == stopped
        assert rec.since(mark, "actor.start") == restarted
        assert [n for what, n in rec.log if what == "started"] == restarted
        assert sup.restarts == 1
        assert set(sup.states().values()) == {"running"}
        for name in "abcd":
            assert await sup.ref(name).ask(Ping()) == name
        await sup.stop()


async def test_one_for_all_does_not_restart_temporary_siblings(autojump_clock) -> None:
    rec = Recorder()
    sup = Supervisor(
        "sup",
        [
            ChildSpec("a", lambda: Worker(rec)),
            ChildSpec("t", lambda: Worker(rec), Restart.TEMPORARY),
            ChildSpec("b", lambda: Worker(rec)),
        ],
        strategy=Strategy.ONE_FOR_ALL,
        on_event=rec,
    )
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        mark = rec.mark()
        await crash(sup, "b")
        await rec.until(lambda: len(rec.since(mark, "actor.start")) == 2)
        assert rec.since(mark, "actor.start") == ["a", "b"]
        assert sup.states() == {"a": "running", "t": "stopped", "b": "running"}
        with pytest.raises(ActorStopped):
            await sup.ref("t").ask(Ping())
        await sup.stop()


# -- restart types ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("restart", "exit_by", "restarted", "final_state"),
    [
        (Restart.PERMANENT, "normal", True, "running"),
        (Restart.PERMANENT, "crash", True, "running"),
        (Restart.TRANSIENT, "normal", False, "stopped"),
        (Restart.TRANSIENT, "crash", True, "running"),
        (Restart.TEMPORARY, "normal", False, "stopped"),
        (Restart.TEMPORARY, "crash", False, "failed"),
    ],
)
async def test_restart_type_on_normal_and_abnormal_exit(
    autojump_clock: trio.testing.MockClock,
    restart: Restart,
    exit_by: str,
    restarted: bool,
    final_state: str,
) -> None:
    rec = Recorder()
    registry = Registry()
    sup = Supervisor(
        "sup",
        [ChildSpec("w", lambda: Worker(rec), restart), ChildSpec("other", lambda: Worker(rec))],
        on_event=rec,
        registry=registry,
    )
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        ref = sup.ref("w")
        mark = rec.mark()
        if exit_by == "normal":
            assert await ref.ask(StopSelf()) == "bye"
            await rec.until(lambda: rec.since(mark, "actor.stop") == ["w"])
        else:
            await crash(sup, "w")
            await rec.until(lambda: rec.since(mark, "actor.crash") == ["w"])
        if restarted:
            await rec.until(lambda: rec.since(mark, "actor.start") == ["w"])
            assert await ref.ask(Ping()) == "w"
            assert registry.lookup("w") is ref
        else:
            await trio.sleep(10)
            assert rec.since(mark, "actor.start") == []
            assert not ref.alive
            assert "w" not in registry.names()
            with pytest.raises(ActorStopped):
                await ref.ask(Ping())
        assert sup.states() == {"w": final_state, "other": "running"}
        assert sup.restarts == (1 if restarted else 0)
        await sup.stop()


# -- intensity and escalation -------------------------------------------------------


async def test_more_than_intensity_restarts_in_period_gives_up(autojump_clock) -> None:
    rec = Recorder()
    sup = Supervisor(
        "sup", specs(rec, "a", "b", "c"), intensity=2, period=10, on_event=rec
    )
    with pytest.RaisesGroup(
        pytest.RaisesExc(SupervisorGaveUp, check=lambda e: isinstance(e.__cause__, Boom))
    ):
        async with trio.open_nursery() as nursery:
            await nursery.start(sup.run)
            for n in range(3):
                await crash(sup, "a")
                await rec.until(lambda: len(rec.of("actor.crash")) == n + 1)
                if n < 2:
                    await rec.until(lambda: rec.names("actor.start").count("a") == n + 2)
            await trio.sleep_forever()  # run() raises: the nursery is cancelled
    assert rec.names("supervisor.give_up") == ["a"]
    # The survivors were stopped in reverse start order.
    assert [n for what, n in rec.log if what == "stopping"][-2:] == ["c", "b"]
    assert sup.states() == {"a": "stopped", "b": "stopped", "c": "stopped"}
    assert sup.restarts == 2


async def test_restarts_spread_beyond_period_do_not_give_up(autojump_clock) -> None:
    rec = Recorder()
    sup = Supervisor("sup", specs(rec, "a"), intensity=1, period=5, on_event=rec)
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        for n in range(4):
            await crash(sup, "a")
            await rec.until(lambda: rec.names("actor.start").count("a") == n + 2)
            await trio.sleep(6)
        assert sup.restarts == 4
        await sup.stop()


async def test_give_up_escalates_to_parent_which_restarts_subtree(autojump_clock) -> None:
    rec = Recorder()
    registry = Registry()

    def subtree() -> Supervisor:
        return Supervisor("inner", specs(rec, "x", "y"), intensity=0)

    root = Supervisor(
        "root",
        [ChildSpec("before", lambda: Worker(rec)), ChildSpec("inner", subtree, shutdown_timeout=20)],
        intensity=3,
        registry=registry,
        on_event=rec,
    )
    async with trio.open_nursery() as nursery:
        await nursery.start(root.run)
        assert root.states() == {"before": "running", "inner": "running", "x": "running", "y": "running"}
        assert registry.names() == ["before", "x", "y"]
        mark = rec.mark()
        await crash(root, "x")
        await rec.until(lambda: "inner" in rec.since(mark, "actor.start"))
        crashes = [e for e in rec.events[mark:] if e["event"] == "actor.crash"]
        assert [(e["supervisor"], e["actor"]) for e in crashes] == [("inner", "x"), ("root", "inner")]
        assert isinstance(crashes[1]["exception"], SupervisorGaveUp)
        # The subtree's events reach the parent's hook; x and y came back (in order).
        assert rec.since(mark, "actor.start") == ["x", "y", "inner"]
        assert [n for what, n in rec.log if what == "started"] == ["x", "y"]
        assert await registry.lookup("x").ask(Ping()) == "x"
        assert root.restarts == 1
        await root.stop()
        assert [n for what, n in rec.log if what == "stopping"][-3:] == ["y", "x", "before"]


async def test_escalation_reaches_the_top_as_supervisor_gave_up(autojump_clock) -> None:
    rec = Recorder()
    root = Supervisor(
        "root",
        [ChildSpec("inner", lambda: Supervisor("inner", specs(rec, "x"), intensity=0))],
        intensity=0,
        on_event=rec,
    )
    with pytest.RaisesGroup(
        pytest.RaisesExc(
            SupervisorGaveUp,
            check=lambda e: e.supervisor == "root"
            and isinstance(e.__cause__, SupervisorGaveUp)
            and e.__cause__.supervisor == "inner",
        )
    ):
        async with trio.open_nursery() as nursery:
            await nursery.start(root.run)
            await crash(root, "x")
            await trio.sleep_forever()


async def test_failed_start_is_retried_then_gives_up_out_of_start(autojump_clock) -> None:
    rec = Recorder()
    attempts = 0

    def flaky() -> Worker:
        nonlocal attempts
        attempts += 1
        return Worker(rec, fail_start=attempts < 3)

    sup = Supervisor("sup", [ChildSpec("a", lambda: Worker(rec)), ChildSpec("f", flaky)], on_event=rec)
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)  # returns once f finally started
        assert attempts == 3
        assert [e["phase"] for e in rec.of("actor.crash")] == ["start", "start"]
        assert sup.states() == {"a": "running", "f": "running"}
        await sup.stop()

    never = Supervisor(
        "never",
        [ChildSpec("a", lambda: Worker(rec)), ChildSpec("f", lambda: Worker(rec, fail_start=1))],
        intensity=2,
    )
    async with trio.open_nursery() as nursery:
        with pytest.raises(SupervisorGaveUp):
            await nursery.start(never.run)
    assert never.states()["a"] == "stopped"


# -- backoff ------------------------------------------------------------------------


async def test_backoff_delays_follow_seeded_full_jitter(autojump_clock) -> None:
    rec = Recorder()
    sup = Supervisor(
        "sup",
        specs(rec, "a"),
        intensity=100,
        period=1000,
        backoff_base=0.5,
        backoff_max=4.0,
        rng=random.Random(42),
        on_event=rec,
    )
    expected_rng = random.Random(42)
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        for n in range(1, 9):
            await crash(sup, "a")
            crashed_at = trio.current_time()
            await rec.until(lambda: rec.names("actor.start").count("a") == n + 1)
            restart = rec.of("actor.restart")[-1]
            cap = min(4.0, 0.5 * 2 ** (n - 1))
            assert restart["attempt"] == n
            assert restart["delay"] == pytest.approx(expected_rng.uniform(0, cap))
            assert 0 <= restart["delay"] <= cap
            started_at = rec.of("actor.start")[-1]["at"]
            assert started_at - crashed_at == pytest.approx(restart["delay"])
        await sup.stop()


async def test_backoff_resets_after_a_quiet_period(autojump_clock) -> None:
    rec = Recorder()
    sup = Supervisor("sup", specs(rec, "a"), intensity=10, period=5, on_event=rec)
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        for n in range(3):
            await crash(sup, "a")
            await rec.until(lambda: len(rec.of("actor.restart")) == n + 1)
        assert [e["attempt"] for e in rec.of("actor.restart")] == [1, 2, 3]
        await trio.sleep(6)
        await crash(sup, "a")
        await rec.until(lambda: len(rec.of("actor.restart")) == 4)
        assert rec.of("actor.restart")[-1]["attempt"] == 1
        await sup.stop()


async def test_asks_during_backoff_wait_for_the_next_incarnation(autojump_clock) -> None:
    rec = Recorder()
    sup = Supervisor(
        "sup", specs(rec, "a"), backoff_base=2.0, rng=random.Random(1), on_event=rec
    )
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        await crash(sup, "a")
        await rec.until(lambda: len(rec.of("actor.restart")) == 1)
        assert sup.states() == {"a": "restarting"}
        delay = rec.of("actor.restart")[0]["delay"]
        start = trio.current_time()
        assert await sup.ref("a").ask(Ping()) == "a"
        assert trio.current_time() - start == pytest.approx(delay)
        await sup.stop()


# -- ordering and shutdown ----------------------------------------------------------


async def test_children_start_in_order_and_stop_in_reverse(autojump_clock) -> None:
    rec = Recorder()
    sup = Supervisor("sup", specs(rec, "a", "b", "c"), on_event=rec)
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        assert rec.names("actor.start") == ["a", "b", "c"]
        await sup.stop()
    assert rec.log == [
        ("started", "a"),
        ("started", "b"),
        ("started", "c"),
        ("stopping", "c"),
        ("stopped", "c"),
        ("stopping", "b"),
        ("stopped", "b"),
        ("stopping", "a"),
        ("stopped", "a"),
    ]
    assert rec.names("actor.stop") == ["c", "b", "a"]
    assert sup.states() == {"a": "stopped", "b": "stopped", "c": "stopped"}


async def test_stopping_is_cut_off_at_shutdown_timeout(autojump_clock) -> None:
    rec = Recorder()
    sup = Supervisor(
        "sup",
        [
            ChildSpec("quick", lambda: Worker(rec, stopping_takes=1), shutdown_timeout=3),
            ChildSpec("slow", lambda: Worker(rec, stopping_takes=100), shutdown_timeout=2),
        ],
        on_event=rec,
    )
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        start = trio.current_time()
        await sup.stop()
        assert trio.current_time() - start == pytest.approx(2 + 1)
    assert rec.log[-3:] == [("stopping", "slow"), ("stopping", "quick"), ("stopped", "quick")]
    took = {e["actor"]: e["took"] for e in rec.of("actor.stop")}
    assert took == pytest.approx({"slow": 2, "quick": 1})


async def test_stop_lets_the_current_message_finish_within_the_timeout(autojump_clock) -> None:
    @attrs.frozen
    class Work:
        seconds: float

    class Busy(Worker):
        async def receive(self, msg: object) -> object:
            if isinstance(msg, Work):
                await trio.sleep(msg.seconds)
                return "done"
            return await super().receive(msg)

    rec = Recorder()
    sup = Supervisor(
        "sup",
        [
            ChildSpec("short", lambda: Busy(rec), shutdown_timeout=5),
            ChildSpec("long", lambda: Busy(rec), shutdown_timeout=5),
        ],
    )
    replies: dict[str, object] = {}

    async def ask(name: str, seconds: float) -> None:
        try:
            replies[name] = await sup.ref(name).ask(Work(seconds), timeout=100)
        except ActorStopped as exc:
            replies[name] = exc

    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        nursery.start_soon(ask, "short", 1)
        nursery.start_soon(ask, "long", 50)
        await trio.testing.wait_all_tasks_blocked()
        start = trio.current_time()
        await sup.stop()
        # "long" (stopped first, reverse order) is killed at its 5 s timeout; "short"
        # finished its message meanwhile, then stopped at once.
        assert trio.current_time() - start == pytest.approx(5)
    assert replies["short"] == "done"
    assert isinstance(replies["long"], ActorStopped)
    # The killed actor had no time left for stopping().
    assert ("stopping", "short") in rec.log and ("stopping", "long") not in rec.log


async def test_cancelling_run_still_runs_stopping_shielded(autojump_clock) -> None:
    rec = Recorder()
    sup = Supervisor(
        "sup",
        [ChildSpec(n, lambda: Worker(rec, stopping_takes=1), shutdown_timeout=2) for n in "ab"],
    )
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        nursery.cancel_scope.cancel()
    assert sorted(n for what, n in rec.log if what == "stopped") == ["a", "b"]
    assert sup.states() == {"a": "stopped", "b": "stopped"}


async def test_stop_before_run_and_run_twice() -> None:
    sup = Supervisor("sup", specs(Recorder(), "a"))
    await sup.stop()
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)  # stopped at once
    assert sup.states() == {"a": "stopped"}
    with pytest.raises(RuntimeError):
        await sup.run()


async def test_invalid_specs_are_refused() -> None:
    with pytest.raises(ValueError):
        Supervisor("sup", specs(Recorder(), "a", "a"))
    with pytest.raises(ValueError):
        ChildSpec("a", Actor, shutdown_timeout=-1)
    with pytest.raises(TypeError):
        ChildSpec("a", Actor, restart="permanent")  # type: ignore[arg-type]


# -- registry and events ------------------------------------------------------------


async def test_children_are_registered_while_they_live(autojump_clock) -> None:
    rec = Recorder()
    registry = Registry()
    sup = Supervisor("sup", specs(rec, "a", "b"), registry=registry)
    async with trio.open_nursery() as nursery:
        waiter_result: list[object] = []

        async def waiter() -> None:
            waiter_result.append(await registry.wait_for("b"))

        nursery.start_soon(waiter)
        await nursery.start(sup.run)
        await trio.testing.wait_all_tasks_blocked()
        assert registry.names() == ["a", "b"]
        assert waiter_result == [sup.ref("b")]
        ref = registry.lookup("a")
        await crash(sup, "a")
        assert await ref.ask(Ping()) == "a"
        assert registry.lookup("a") is ref  # re-bound: the same stable ref
        await sup.stop()
    assert registry.names() == []


async def test_events_are_logged_with_structured_fields(autojump_clock, caplog) -> None:
    caplog.set_level(logging.DEBUG, logger="runtime")
    rec = Recorder()
    sup = Supervisor("sup", specs(rec, "a"), on_event=rec)
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        await crash(sup, "a")
        await rec.until(lambda: len(rec.of("actor.start")) == 2)
        await sup.stop()
    records = [r for r in caplog.records if r.name == "runtime" and hasattr(r, "event")]
    kinds = [(r.event, getattr(r, "actor", None)) for r in records]
    assert kinds == [
        ("actor.start", "a"),
        ("supervisor.start", None),
        ("actor.crash", "a"),
        ("actor.restart", "a"),
        ("actor.start", "a"),
        ("actor.stop", "a"),
        ("supervisor.stop", None),
    ]
    crash_record = records[2]
    assert crash_record.levelno == logging.ERROR
    assert crash_record.exc_info is not None and crash_record.exc_info[0] is Boom
    assert crash_record.supervisor == "sup"
    assert records[3].delay >= 0
    # The hook saw the same sequence, with the exception object for crashes.
    assert [e["event"] for e in rec.events] == [k for k, _ in kinds]
    assert isinstance(rec.of("actor.crash")[0]["exception"], Boom)


async def test_a_failing_event_hook_does_not_break_supervision(autojump_clock) -> None:
    def bad_hook(event: dict[str, Any]) -> None:
        raise RuntimeError("metrics down")

    rec = Recorder()
    sup = Supervisor("sup", specs(rec, "a"), on_event=bad_hook)
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        await crash(sup, "a")
        assert await sup.ref("a").ask(Ping()) == "a"
        await sup.stop()
