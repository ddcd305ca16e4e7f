"""Name -> ActorRef directory, filled by supervisors as children start and stop."""

from __future__ import annotations

import math

import trio

from ._actor import ActorRef


class Registry:
    """Where actors are found by name. Supervisors given a registry register each
    actor child under its child name on start and unregister it when it ends for good
    (a restart keeps the same ref). Names are unique: registering a name bound to a
    different live ref raises `ValueError`.
    """

    def __init__(self) -> None:
        self._refs: dict[str, ActorRef] = {}
        self._waiters: dict[str, trio.Event] = {}

    def register(self, name: str, ref: ActorRef) -> None:
        current = self._refs.get(name)
        if current is not None and current is not ref and current.alive:
            raise ValueError(f"name {name!r} is already registered to {current!r}")
        self._refs[name] = ref
        ref._cell.registry = self
        event = self._waiters.pop(name, None)
        if event is not None:
            event.set()

    def unregister(self, name: str, ref: ActorRef | None = None) -> None:
        """Remove `name` (only if bound to `ref`, when given). Absent names are ignored."""
        current = self._refs.get(name)
        if current is not None and (ref is None or current is ref):
            del self._refs[name]

    def lookup(self, name: str) -> ActorRef:
        """The ref registered under `name`; `LookupError` if none."""
        try:
            return self._refs[name]
        except KeyError:
            raise LookupError(f"no actor registered as {name!r}") from None

    def get(self, name: str) -> ActorRef | None:
        return self._refs.get(name)

    async def wait_for(self, name: str, timeout: float | None = None) -> ActorRef:
        """The ref registered under `name`, waiting until it is; `TimeoutError` after
        `timeout` seconds (None: no limit)."""
        ref = self._refs.get(name)
        if ref is not None:
            await trio.lowlevel.checkpoint()
            return ref
        with trio.move_on_after(math.inf if timeout is None else timeout):
            while True:
                event = self._waiters.get(name)
                if event is None:
                    event = self._waiters[name] = trio.Event()
                await event.wait()
                ref = self._refs.get(name)
                if ref is not None:
                    return ref
        raise TimeoutError(f"no actor registered as {name!r} within {timeout} s")

    def names(self) -> list[str]:
        return sorted(self._refs)

    def __contains__(self, name: object) -> bool:
        return name in self._refs

