"""Poison messages: a crash in `receive` is charged to the message, not to the
supervisor's restart intensity; the actor's own crashes still count."""

from __future__ import annotations

from typing import Any

import attrs
import pytest
import trio
import trio.testing

from runtime import (
    Actor,
    ActorCrashed,
    ActorStopped,
    Charge,
    ChildSpec,
    Restart,
    Strategy,
    Supervisor,
    SupervisorGaveUp,
)


class Boom(Exception):
    pass


@attrs.frozen
class Poison:
    """Crashes the actor in `receive`."""

    n: int = 0


@attrs.frozen
class CrashOnItsOwn:
    """Makes a helper task of the actor crash (not this message)."""


@attrs.frozen
class CrashTwice:
    """Crashes in `receive` while a helper task crashes too."""


@attrs.frozen
class Add:
    n: int


@attrs.frozen
class Get:
    pass


class Events:
    """The supervisor's `on_event` hook: keeps every event, wakes waiters."""

    def __init__(self) -> None:
        self.all: list[dict[str, Any]] = []
        self._changed = trio.Event()

    def __call__(self, event: dict[str, Any]) -> None:
        self.all.append(event)
        self._changed.set()
        self._changed = trio.Event()

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.all if e["event"] == kind]

    async def until(self, kind: str, count: int) -> None:
        with trio.fail_after(60):
            while len(self.of(kind)) < count:
                await self._changed.wait()


class Fragile(Actor):
    starts = 0

    async def started(self) -> None:
        self.total = 0
        Fragile.starts += 1

    async def receive(self, msg: object) -> object:
        match msg:
            case Poison(n):
                raise Boom(f"poison {n}")
            case CrashOnItsOwn():
                self.start_soon(self._boom)
                await trio.sleep_forever()
            case CrashTwice():
                self.start_soon(self._boom)
                raise Boom("in receive")
            case Add(n):
                self.total += n
                return self.total
            case Get():
                return self.total
        return await super().receive(msg)

    async def _boom(self) -> None:
        raise Boom("own")


def root(events: Events, *children: ChildSpec, **options: Any) -> Supervisor:
    # The gateway's root: the default intensity (3 restarts in 5 s).
    return Supervisor("root", children, on_event=events, **options)


async def test_four_poison_asks_within_5_s_no_longer_exhaust_the_root(
    autojump_clock: trio.testing.MockClock,
) -> None:
    events = Events()
    sup = root(events, ChildSpec("a", Fragile), ChildSpec("b", Fragile))
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        ref = sup.ref("a")
        started = trio.current_time()
        for n in range(20):
            assert await ref.ask(Add(1)) == 1  # a fresh incarnation each time
            with pytest.raises(ActorCrashed) as info:
                await ref.ask(Poison(n))
            assert isinstance(info.value, ActorStopped)
            assert isinstance(info.value.__cause__, Boom)
            assert str(info.value.__cause__) == f"poison {n}"
        assert trio.current_time() - started < 5  # restarts at once, no backoff
        await events.until("actor.restart", 20)
        assert await ref.ask(Get()) == 0
        crashes = events.of("actor.crash")
        assert [(e["actor"], e["phase"]) for e in crashes] == [("a", "message")] * 20
        assert {(e["charged"], e["delay"]) for e in events.of("actor.restart")} == {("message", 0.0)}
        assert events.of("supervisor.give_up") == []
        assert sup.states() == {"a": "running", "b": "running"}
        assert sup.restarts == 20
        # The intensity is untouched: the actor's own crashes still have all of it.
        for n in range(3):
            with pytest.raises(ActorStopped):
                await ref.ask(CrashOnItsOwn())
            await events.until("actor.start", 2 + 20 + n + 1)
        await sup.stop()


async def test_poison_tells_are_charged_to_the_message_too(autojump_clock) -> None:
    events = Events()
    sup = root(events, ChildSpec("a", Fragile))
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        ref = sup.ref("a")
        for n in range(10):
            await ref.tell(Poison(n))
        await ref.tell(Add(5))
        # Queued behind the poison: handled by the next incarnations, in order.
        assert await ref.ask(Get()) == 5
        assert len(events.of("actor.crash")) == 10
        assert {e["phase"] for e in events.of("actor.crash")} == {"message"}
        assert sup.states() == {"a": "running"}
        await sup.stop()


async def test_charged_to_the_supervisor_four_poison_asks_exhaust_it(autojump_clock) -> None:
    """Plain OTP accounting, still available as data: this is what the default
    prevents."""
    events = Events()
    sup = root(events, ChildSpec("a", Fragile, message_crashes=Charge.SUPERVISOR))
    with pytest.RaisesGroup(SupervisorGaveUp):
        async with trio.open_nursery() as nursery:
            await nursery.start(sup.run)
            for n in range(4):
                with pytest.raises(ActorCrashed):
                    await sup.ref("a").ask(Poison(n))
                await events.until("actor.crash", n + 1)
            await trio.sleep(60)
    assert [e["phase"] for e in events.of("actor.crash")] == ["message"] * 4
    assert len(events.of("supervisor.give_up")) == 1


async def test_the_actors_own_crashes_still_exhaust_the_intensity(autojump_clock) -> None:
    events = Events()
    sup = root(events, ChildSpec("a", Fragile))
    with pytest.RaisesGroup(pytest.RaisesExc(SupervisorGaveUp, check=lambda e: isinstance(e.__cause__, Boom))):
        async with trio.open_nursery() as nursery:
            await nursery.start(sup.run)
            for n in range(4):
                with pytest.raises(ActorStopped) as info:
                    await sup.ref("a").ask(CrashOnItsOwn())
                # The ask did not crash the actor: it was cut short by the crash.
                assert not isinstance(info.value, ActorCrashed)
                await events.until("actor.crash", n + 1)
            await trio.sleep(60)
    assert [e["phase"] for e in events.of("actor.crash")] == ["run"] * 4


async def test_a_message_crash_together_with_an_own_crash_counts(autojump_clock) -> None:
    events = Events()
    sup = root(events, ChildSpec("a", Fragile), intensity=0)
    with pytest.RaisesGroup(SupervisorGaveUp):
        async with trio.open_nursery() as nursery:
            await nursery.start(sup.run)
            with pytest.raises(ActorCrashed):
                await sup.ref("a").ask(CrashTwice())
            await trio.sleep(60)
    assert [e["phase"] for e in events.of("actor.crash")] == ["run"]


async def test_a_failed_restart_after_poison_counts(autojump_clock) -> None:
    events = Events()
    attempts = 0

    class FailsToRestart(Fragile):
        async def started(self) -> None:
            nonlocal attempts
            attempts += 1
            if attempts > 1:
                raise Boom("cannot start")
            await super().started()

    sup = root(events, ChildSpec("a", FailsToRestart), intensity=2)
    with pytest.RaisesGroup(SupervisorGaveUp):
        async with trio.open_nursery() as nursery:
            await nursery.start(sup.run)
            with pytest.raises(ActorCrashed):
                await sup.ref("a").ask(Poison())
            await trio.sleep(600)
    assert [e["phase"] for e in events.of("actor.crash")] == ["message", "start", "start", "start"]


async def test_poison_inside_a_subtree_does_not_escalate(autojump_clock) -> None:
    events = Events()

    def subtree() -> Supervisor:
        return Supervisor("inner", [ChildSpec("x", Fragile), ChildSpec("y", Fragile)],
                          strategy=Strategy.ONE_FOR_ALL, intensity=0)

    sup = root(events, ChildSpec("inner", subtree, shutdown_timeout=20), intensity=0)
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        inner_starts = len([e for e in events.of("actor.start") if e["actor"] == "inner"])
        for n in range(5):
            with pytest.raises(ActorCrashed):
                await sup.ref("x").ask(Poison(n))
            # one_for_all: y restarts with x, still charged to the message
            await events.until("actor.start", 3 + 2 * (n + 1))
        assert [e["actor"] for e in events.of("actor.crash")] == ["x"] * 5
        assert len([e for e in events.of("actor.start") if e["actor"] == "inner"]) == inner_starts
        assert sup.states() == {"inner": "running", "x": "running", "y": "running"}
        await sup.stop()


@pytest.mark.parametrize(("restart", "state"), [(Restart.TEMPORARY, "failed"), (Restart.TRANSIENT, "running")])
async def test_restart_types_still_decide_after_poison(
    autojump_clock: trio.testing.MockClock, restart: Restart, state: str,
) -> None:
    events = Events()
    sup = root(events, ChildSpec("a", Fragile, restart))
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        with pytest.raises(ActorCrashed):
            await sup.ref("a").ask(Poison())
        await trio.sleep(1)
        assert sup.states() == {"a": state}
        await sup.stop()
