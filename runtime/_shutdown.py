"""Phased shutdown, after Akka's CoordinatedShutdown."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import attrs
import trio

from ._events import EventHook, emit


@attrs.define
class _Phase:
    name: str
    deadline: float
    tasks: list[tuple[str, Callable[[], Awaitable[None]]]] = attrs.field(factory=list)


class ShutdownCoordinator:
    """Named phases run in the order added, each with a deadline, all under one
    overall timeout. The tasks of a phase run concurrently.

    `run()` returns True if every task finished (without raising) within its phase
    deadline and the overall timeout. A task past its phase deadline is cancelled and
    logged, and shutdown goes on with the next phase; past the overall timeout
    everything left is cancelled (later phases are skipped) and `run()` returns False.
    A task that raises is logged and makes the result False. `run()` is not shielded:
    cancelling its caller cancels the shutdown.
    """

    def __init__(self, overall_timeout: float, *, on_event: EventHook | None = None) -> None:
        self.overall_timeout = overall_timeout
        self._on_event = on_event
        self._phases: dict[str, _Phase] = {}
        self._done: trio.Event | None = None
        self._result = False

    @property
    def phases(self) -> list[str]:
        return list(self._phases)

    def add_phase(self, name: str, deadline: float) -> None:
        if name in self._phases:
            raise ValueError(f"phase {name!r} already added")
        if not deadline >= 0:
            raise ValueError(f"deadline of phase {name!r} must be >= 0")
        self._phases[name] = _Phase(name, deadline)

    def add_task(self, phase: str, name: str, fn: Callable[[], Awaitable[None]]) -> None:
        if self._done is not None:
            raise RuntimeError("shutdown already started")
        try:
            self._phases[phase].tasks.append((name, fn))
        except KeyError:
            raise LookupError(f"no shutdown phase {phase!r}") from None

    async def run(self) -> bool:
        """Run the phases once; a second call waits for the first and returns its result."""
        if self._done is not None:
            await self._done.wait()
            return self._result
        self._done = trio.Event()
        ok = True
        left = list(self._phases.values())
        started = trio.current_time()
        try:
            with trio.move_on_after(self.overall_timeout) as overall:
                while left:
                    phase = left[0]
                    if not await self._run_phase(phase):
                        ok = False
                    left.pop(0)
            if overall.cancelled_caught:
                ok = False
                emit(
                    self._on_event,
                    "shutdown.timeout",
                    f"shutdown overall timeout of {self.overall_timeout} s exceeded; "
                    f"cancelled phases: {[p.name for p in left]}",
                    level=logging.ERROR,
                    phases=[p.name for p in left],
                )
            emit(
                self._on_event,
                "shutdown.done",
                f"shutdown {'done' if ok else 'done with errors'} "
                f"(took {trio.current_time() - started:.3f} s)",
                ok=ok,
                took=trio.current_time() - started,
            )
        finally:
            self._result = ok and not left
            self._done.set()
        return self._result

    async def _run_phase(self, phase: _Phase) -> bool:
        started = trio.current_time()
        emit(self._on_event, "shutdown.phase_start", f"shutdown phase {phase.name} started",
             phase=phase.name)
        pending = {name for name, _ in phase.tasks}
        failed: list[str] = []

        async def run_task(name: str, fn: Callable[[], Awaitable[None]]) -> None:
            try:
                await fn()
            except Exception as exc:
                pending.discard(name)
                failed.append(name)
                emit(
                    self._on_event,
                    "shutdown.task_failed",
                    f"shutdown task {name} of phase {phase.name} failed",
                    level=logging.ERROR,
                    exc=exc,
                    phase=phase.name,
                    task=name,
                )
            else:
                pending.discard(name)

        with trio.move_on_after(phase.deadline) as scope:
            async with trio.open_nursery() as nursery:
                for name, fn in phase.tasks:
                    nursery.start_soon(run_task, name, fn, name=f"shutdown:{phase.name}:{name}")
        took = trio.current_time() - started
        if scope.cancelled_caught:
            emit(
                self._on_event,
                "shutdown.phase_timeout",
                f"shutdown phase {phase.name} exceeded its deadline of {phase.deadline} s; "
                f"cancelled tasks: {sorted(pending)}",
                level=logging.WARNING,
                phase=phase.name,
                tasks=sorted(pending),
            )
        emit(
            self._on_event,
            "shutdown.phase_done",
            f"shutdown phase {phase.name} done (took {took:.3f} s)",
            phase=phase.name,
            took=took,
        )
        return not scope.cancelled_caught and not failed
