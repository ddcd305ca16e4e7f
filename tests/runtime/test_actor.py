"""Actors and refs: ask/tell, replies, rejections, crashes, timeouts, mailboxes."""

from __future__ import annotations

import math
from functools import partial

import attrs
import pytest
import trio
import trio.testing

from runtime import (
    DEFAULT_ASK_TIMEOUT,
    Actor,
    ActorRef,
    ActorStopped,
    AskTimeout,
    Charge,
    ChildSpec,
    Overloaded,
    Registry,
    Rejection,
    Restart,
    Supervisor,
    spawn,
)


class Boom(Exception):
    pass


class NotAllowed(Rejection):
    pass


@attrs.frozen
class Add:
    n: int


@attrs.frozen
class Get:
    pass


@attrs.frozen
class Crash:
    pass


@attrs.frozen
class Sleep:
    seconds: float


@attrs.frozen
class Wait:
    gate: trio.Event


@attrs.frozen
class Deny:
    pass


@attrs.frozen
class StopSelf:
    pass


class Counter(Actor):
    """Counts, and numbers its incarnations through a shared list."""

    def __init__(self, log: list[tuple[str, object]] | None = None) -> None:
        self.log = log if log is not None else []

    async def started(self) -> None:
        self.total = 0
        self.log.append(("started", self.name))

    async def receive(self, msg: object) -> object:
        self.log.append(("handle", msg))
        match msg:
            case Add(n):
                self.total += n
                return self.total
            case Get():
                return self.total
            case Crash():
                raise Boom("on purpose")
            case Sleep(seconds):
                await trio.sleep(seconds)
                return "slept"
            case Wait(gate):
                await gate.wait()
                return "released"
            case Deny():
                raise NotAllowed("no")
            case StopSelf():
                self.stop()
                return "stopping"
        return await super().receive(msg)

    async def stopping(self) -> None:
        self.log.append(("stopping", self.name))


async def test_ask_returns_receive_value_and_tell_is_one_way() -> None:
    async with trio.open_nursery() as nursery:
        ref = await spawn(nursery, Counter, "counter")
        assert isinstance(ref, ActorRef) and ref.name == "counter"
        assert await ref.ask(Add(2)) == 2
        await ref.tell(Add(3))
        ref.tell_nowait(Add(5))
        assert await ref.ask(Get()) == 10
        nursery.cancel_scope.cancel()


async def test_rejection_reaches_asker_and_actor_keeps_its_state() -> None:
    log: list[tuple[str, object]] = []
    supervisor = Supervisor("sup", [ChildSpec("c", lambda: Counter(log))])
    async with trio.open_nursery() as nursery:
        await nursery.start(supervisor.run)
        ref = supervisor.ref("c")
        await ref.ask(Add(7))
        with pytest.raises(NotAllowed, match="no"):
            await ref.ask(Deny())
        # An unhandled message type is a Rejection too, not a crash.
        with pytest.raises(Rejection):
            await ref.ask("unknown")
        await ref.tell(Deny())  # a rejected tell is logged and dropped
        assert await ref.ask(Get()) == 7
        assert supervisor.restarts == 0
        assert log.count(("started", "c")) == 1
        await supervisor.stop()


async def test_crash_answers_asker_with_actor_stopped_and_restarts_fresh() -> None:
    log: list[tuple[str, object]] = []
    supervisor = Supervisor("sup", [ChildSpec("c", lambda: Counter(log))])
    async with trio.open_nursery() as nursery:
        await nursery.start(supervisor.run)
        ref = supervisor.ref("c")
        await ref.ask(Add(1))
        with pytest.raises(ActorStopped) as info:
            await ref.ask(Crash())
        assert isinstance(info.value.__cause__, Boom)
        assert not isinstance(info.value, Rejection)
        # Same ref, new incarnation with fresh state.
        assert await ref.ask(Get(), timeout=10) == 0
        assert log.count(("started", "c")) == 2
        # stopping() ran for the crashed incarnation too.
        assert log.count(("stopping", "c")) == 1
        assert supervisor.restarts == 1
        await supervisor.stop()


async def test_messages_queued_at_crash_are_handled_by_next_incarnation(autojump_clock) -> None:
    log: list[tuple[str, object]] = []
    supervisor = Supervisor("sup", [ChildSpec("c", lambda: Counter(log))], backoff_base=1.0)
    async with trio.open_nursery() as nursery:
        await nursery.start(supervisor.run)
        ref = supervisor.ref("c")
        gate = trio.Event()
        nursery.start_soon(ref.ask, Wait(gate))
        await trio.testing.wait_all_tasks_blocked()
        await ref.tell(Crash())
        await ref.tell(Add(4))
        gate.set()
        assert await ref.ask(Get()) == 4
        assert log.count(("started", "c")) == 2
        await supervisor.stop()


async def test_ask_times_out_and_abandoned_ask_is_skipped(autojump_clock) -> None:
    log: list[tuple[str, object]] = []
    async with trio.open_nursery() as nursery:
        ref = await spawn(nursery, lambda: Counter(log), "c")
        nursery.start_soon(partial(ref.ask, Sleep(10), timeout=20))
        await trio.testing.wait_all_tasks_blocked()
        start = trio.current_time()
        with pytest.raises(AskTimeout) as info:
            await ref.ask(Add(1), timeout=1.5)
        assert trio.current_time() - start == pytest.approx(1.5)
        assert info.value.actor == "c" and info.value.timeout == 1.5
        # The actor is still busy; the next ask is answered once it is free...
        assert await ref.ask(Get(), timeout=20) == 0
        assert trio.current_time() - start == pytest.approx(10)
        # ...and the abandoned Add(1) was never handled.
        assert ("handle", Add(1)) not in log
        nursery.cancel_scope.cancel()


async def test_many_distinct_timeouts_each_fire_on_time(autojump_clock) -> None:
    fired: dict[float, float] = {}

    async def ask(ref: ActorRef, timeout: float) -> None:
        start = trio.current_time()
        with pytest.raises(AskTimeout):
            await ref.ask(Get(), timeout=timeout)
        fired[timeout] = trio.current_time() - start

    async with trio.open_nursery() as nursery:
        ref = await spawn(nursery, Counter, "c")
        nursery.start_soon(partial(ref.ask, Wait(trio.Event()), timeout=None))
        await trio.testing.wait_all_tasks_blocked()
        timeouts = [0.5 + i * 0.37 for i in range(40)]  # more than the timer's FIFOs
        async with trio.open_nursery() as askers:
            for timeout in reversed(timeouts):
                askers.start_soon(ask, ref, timeout)
        assert fired == pytest.approx({t: t for t in timeouts})
        # Answered asks do not fire later.
        ref2 = await spawn(nursery, Counter, "d")
        for i in range(40):
            assert await ref2.ask(Get(), timeout=1 + i) == 0
        await trio.sleep(100)
        nursery.cancel_scope.cancel()


async def test_default_ask_timeout_is_finite(autojump_clock) -> None:
    assert DEFAULT_ASK_TIMEOUT == 5.0
    async with trio.open_nursery() as nursery:
        ref = await spawn(nursery, Counter, "c")
        start = trio.current_time()
        with pytest.raises(AskTimeout):
            await ref.ask(Wait(trio.Event()))
        assert trio.current_time() - start == pytest.approx(DEFAULT_ASK_TIMEOUT)
        nursery.cancel_scope.cancel()


async def test_ask_without_timeout_and_cancelled_asker(autojump_clock) -> None:
    async with trio.open_nursery() as nursery:
        ref = await spawn(nursery, Counter, "c")
        assert await ref.ask(Sleep(100), timeout=None) == "slept"
        with trio.move_on_after(1) as scope:
            await ref.ask(Sleep(3), timeout=None)
        assert scope.cancelled_caught
        assert await ref.ask(Get()) == 0
        nursery.cancel_scope.cancel()


class Small(Counter):
    mailbox_size = 2


async def test_full_mailbox_overloaded_when_not_waiting(autojump_clock) -> None:
    async with trio.open_nursery() as nursery:
        ref = await spawn(nursery, Small, "small")
        assert ref.capacity == 2
        gate = trio.Event()
        nursery.start_soon(ref.ask, Wait(gate))
        await trio.testing.wait_all_tasks_blocked()  # actor busy, mailbox empty
        ref.tell_nowait(Add(1))
        ref.tell_nowait(Add(1))
        assert ref.depth() == 2
        with pytest.raises(Overloaded) as info:
            ref.tell_nowait(Add(1))
        assert info.value.actor == "small"
        with pytest.raises(Overloaded):
            await ref.ask(Get(), wait=False)
        gate.set()
        assert await ref.ask(Get()) == 2
        nursery.cancel_scope.cancel()


async def test_full_mailbox_blocks_waiting_senders_until_room(autojump_clock) -> None:
    async with trio.open_nursery() as nursery:
        ref = await spawn(nursery, Small, "small")
        gate = trio.Event()
        nursery.start_soon(partial(ref.ask, Wait(gate), timeout=None))
        await trio.testing.wait_all_tasks_blocked()
        await ref.tell(Add(1))
        await ref.tell(Add(1))
        done: list[object] = []

        async def blocked_tell() -> None:
            await ref.tell(Add(10))
            done.append("tell")

        async def blocked_ask() -> None:
            done.append(await ref.ask(Add(100), timeout=None))

        nursery.start_soon(blocked_tell)
        await trio.testing.wait_all_tasks_blocked()  # so the tell queues first
        nursery.start_soon(blocked_ask)
        await trio.sleep(60)
        assert done == []  # backpressure: both wait, nothing is dropped
        gate.set()
        await trio.testing.wait_all_tasks_blocked()
        assert done == ["tell", 112]
        assert await ref.ask(Get()) == 112
        nursery.cancel_scope.cancel()


async def test_ask_timeout_covers_waiting_for_mailbox_room(autojump_clock) -> None:
    async with trio.open_nursery() as nursery:
        ref = await spawn(nursery, Small, "small")
        nursery.start_soon(partial(ref.ask, Wait(trio.Event()), timeout=None))
        await trio.testing.wait_all_tasks_blocked()
        ref.tell_nowait(Add(1))
        ref.tell_nowait(Add(1))
        start = trio.current_time()
        with pytest.raises(AskTimeout):
            await ref.ask(Get(), timeout=2)
        assert trio.current_time() - start == pytest.approx(2)
        nursery.cancel_scope.cancel()


async def test_ended_actor_fails_queued_and_new_asks_with_actor_stopped(autojump_clock) -> None:
    supervisor = Supervisor("sup", [ChildSpec("c", Counter, Restart.TEMPORARY)])
    async with trio.open_nursery() as nursery:
        await nursery.start(supervisor.run)
        ref = supervisor.ref("c")
        gate = trio.Event()
        nursery.start_soon(ref.ask, Wait(gate))
        await trio.testing.wait_all_tasks_blocked()
        await ref.tell(StopSelf())
        results: list[BaseException] = []

        async def queued_ask() -> None:
            try:
                await ref.ask(Get())
            except ActorStopped as exc:
                results.append(exc)

        nursery.start_soon(queued_ask)
        await trio.testing.wait_all_tasks_blocked()
        gate.set()
        await trio.testing.wait_all_tasks_blocked()
        assert len(results) == 1
        assert not ref.alive and ref.depth() == 0
        with pytest.raises(ActorStopped):
            await ref.ask(Get())
        with pytest.raises(ActorStopped):
            ref.tell_nowait(Get())
        with pytest.raises(ActorStopped):
            await ref.tell(Get())
        assert supervisor.states() == {"c": "stopped"}
        await supervisor.stop()


class Ticker(Actor):
    """Uses a helper task; the helper crashes on demand."""

    def __init__(self, ticks: list[str], crash_at: int | None = None) -> None:
        self.ticks = ticks
        self.crash_at = crash_at

    async def started(self) -> None:
        self.start_soon(self._tick)

    async def _tick(self) -> None:
        n = 0
        while True:
            await trio.sleep(1)
            n += 1
            if n == self.crash_at:
                raise Boom("helper")
            self.ticks.append(f"{self.name}:{n}")

    async def receive(self, msg: object) -> object:
        return len(self.ticks)


async def test_helper_task_runs_beside_actor_and_stops_with_it(autojump_clock) -> None:
    ticks: list[str] = []
    supervisor = Supervisor("sup", [ChildSpec("t", lambda: Ticker(ticks))])
    async with trio.open_nursery() as nursery:
        await nursery.start(supervisor.run)
        await trio.sleep(3.5)
        assert await supervisor.ref("t").ask("count") == 3
        await supervisor.stop()
        await trio.sleep(5)
        assert ticks == ["t:1", "t:2", "t:3"]


async def test_helper_task_crash_crashes_the_actor(autojump_clock) -> None:
    ticks: list[str] = []
    events: list[dict[str, object]] = []
    supervisor = Supervisor(
        "sup", [ChildSpec("t", lambda: Ticker(ticks, crash_at=2))], on_event=events.append
    )
    async with trio.open_nursery() as nursery:
        await nursery.start(supervisor.run)
        await trio.sleep(2.5)
        crashes = [e for e in events if e["event"] == "actor.crash"]
        assert len(crashes) == 1 and isinstance(crashes[0]["exception"], Boom)
        assert supervisor.states() == {"t": "running"}
        assert supervisor.restarts == 1
        await supervisor.stop()


async def test_start_soon_outside_a_running_actor_is_an_error() -> None:
    actor = Counter()
    with pytest.raises(RuntimeError):
        actor.start_soon(trio.sleep, 1)
    with pytest.raises(RuntimeError):
        actor.ref  # noqa: B018


async def test_ref_follows_registry_when_subtree_is_replaced(autojump_clock) -> None:
    registry = Registry()

    def subtree() -> Supervisor:
        # Charged to the supervisor, so one crash on a message makes it give up.
        return Supervisor(
            "inner", [ChildSpec("c", Counter, message_crashes=Charge.SUPERVISOR)], intensity=0
        )

    root = Supervisor(
        "root", [ChildSpec("inner", subtree)], registry=registry, intensity=5
    )
    async with trio.open_nursery() as nursery:
        await nursery.start(root.run)
        old = registry.lookup("c")
        await old.ask(Add(1))
        with pytest.raises(ActorStopped):
            await old.ask(Crash())  # inner gives up at once; root makes a new subtree
        # Fake clock: polling costs no real time.
        while (new := registry.get("c")) in (None, old):
            await trio.sleep(0.01)
        assert not old.alive and new.alive
        assert await old.ask(Add(2)) == 2  # forwarded to the new incarnation's ref
        await root.stop()


async def test_mailbox_size_override_per_instance() -> None:
    def make() -> Counter:
        actor = Counter()
        actor.mailbox_size = 7
        return actor

    async with trio.open_nursery() as nursery:
        ref = await spawn(nursery, make, "c")
        assert ref.capacity == 7
        unbounded = await spawn(nursery, Counter, "d")
        assert unbounded.capacity == 1024
        assert ref.depth() == 0 and math.isfinite(ref.capacity)
        nursery.cancel_scope.cancel()
