"""State kept beside an actor, read by other tasks without an ask.

Some state is read far more often than it changes, on paths where a mailbox round
trip would be most of the cost: the answer table of an experiment assignment, the
slots a position update lands in, the revoked-token set checked on every request.
Like an Erlang ETS table owned by a process, such state belongs to one actor (its
owner, which fills it, drains it and writes it to storage) and is read and written in
place by any task of the node.

`Shared(name, state)` is that arrangement, made explicit:

- The state belongs to the owner's child slot, not to one incarnation: `child(...)`
  builds the owner's `ChildSpec`, and every incarnation the supervisor starts is made
  with the same state object. A restart loses neither what the state holds nor the
  readers' view of it.
- Readers hold the `Shared` (or its `state`) and call it directly. Everything runs in
  one trio thread and a call with no `await` in it runs to its end before any other
  task runs, so a read-modify-write without an `await` needs no lock. Code that must
  await in the middle of one belongs in the owner.
- `ref` is the owner's `ActorRef` once its slot has started (stable across restarts,
  and updated if a whole subtree is restarted), for what only the owner can do.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from ._actor import Actor, ActorRef
from ._supervisor import ChildSpec, Restart

S = TypeVar("S")

__all__ = ["Shared"]


class Shared(Generic[S]):
    """`state` kept beside the actor child `name` (see the module docstring)."""

    __slots__ = ("name", "state", "_ref")

    def __init__(self, name: str, state: S) -> None:
        self.name = name
        self.state = state
        self._ref: ActorRef | None = None

    def __repr__(self) -> str:
        return f"<Shared {self.name!r}: {type(self.state).__name__}>"

    def child(
        self,
        factory: Callable[[S], Actor],
        *,
        restart: Restart = Restart.PERMANENT,
        shutdown_timeout: float = 5.0,
    ) -> ChildSpec:
        """The owner's child spec: each incarnation is `factory(state)`."""
        state = self.state
        return ChildSpec(self.name, lambda: factory(state), restart, shutdown_timeout,
                         on_start=self._owner_started)

    @property
    def ref(self) -> ActorRef:
        """The owner's ref; `LookupError` before its slot first started."""
        ref = self._ref
        if ref is None:
            raise LookupError(f"the owner of {self!r} has not started")
        return ref

    def _owner_started(self, ref: ActorRef) -> None:
        """Called by the supervisor each time the owner's slot starts."""
        self._ref = ref
