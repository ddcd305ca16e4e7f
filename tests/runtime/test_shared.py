"""`Shared`: state beside an actor that outlives its restarts and is read without an ask."""

from __future__ import annotations

import attrs
import pytest
import trio
import trio.testing

from runtime import Actor, ActorStopped, ChildSpec, Registry, Shared, Supervisor


class Boom(Exception):
    pass


@attrs.frozen
class Add:
    value: int


@attrs.frozen
class Crash:
    pass


class Owner(Actor):
    """Writes what it is told into the shared list; remembers which incarnation it is."""

    made: list["Owner"] = []

    def __init__(self, seen: list[int]) -> None:
        self.seen = seen
        Owner.made.append(self)

    async def receive(self, msg: object) -> object:
        if isinstance(msg, Add):
            self.seen.append(msg.value)
            return len(self.seen)
        if isinstance(msg, Crash):
            # Its own crash (a helper task), which counts against the intensity; one
            # in receive() would be charged to the message (tests/runtime/test_poison.py).
            self.start_soon(self._boom)
            await trio.sleep_forever()
        return await super().receive(msg)

    async def _boom(self) -> None:
        raise Boom()


@pytest.fixture(autouse=True)
def _fresh() -> None:
    Owner.made = []


async def test_every_incarnation_gets_the_same_state_and_readers_see_it_through_a_crash(
        autojump_clock: trio.testing.MockClock) -> None:
    shared = Shared("owner", [])
    supervisor = Supervisor("root", [shared.child(Owner)], intensity=5)
    async with trio.open_nursery() as nursery:
        await nursery.start(supervisor.run)
        ref = shared.ref
        assert await ref.ask(Add(1)) == 1
        with pytest.raises(ActorStopped):
            await ref.ask(Crash())
        assert shared.state == [1]  # read in place while the owner restarts
        assert await ref.ask(Add(2)) == 2  # the next incarnation appends to the same list
        assert len(Owner.made) == 2 and Owner.made[0].seen is Owner.made[1].seen is shared.state
        assert shared.ref is ref  # the ref is stable across a restart
        await supervisor.stop()


async def test_the_ref_is_published_when_the_owner_starts_and_follows_a_subtree_restart(
        autojump_clock: trio.testing.MockClock) -> None:
    shared = Shared("owner", [])
    with pytest.raises(LookupError):
        shared.ref
    registry = Registry()
    subtree = ChildSpec("sub", lambda: Supervisor("sub", [shared.child(Owner)], intensity=0))
    root = Supervisor("root", [subtree], registry=registry, intensity=5)
    async with trio.open_nursery() as nursery:
        await nursery.start(root.run)
        first = shared.ref
        assert registry.lookup("owner") is first
        await first.ask(Add(1))
        # intensity=0: the subtree gives up on the first crash and the root restarts it,
        # with a new slot (a new mailbox and ref) but the same state.
        with pytest.raises(ActorStopped):
            await first.ask(Crash())
        with trio.fail_after(5):
            while shared.ref is first:
                await trio.sleep(0.01)
        assert await shared.ref.ask(Add(2)) == 2
        assert shared.state == [1, 2]
        await root.stop()
