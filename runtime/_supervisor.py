"""OTP-style supervisors: restart policy is data (ChildSpec), not code.

A supervisor runs its children as tasks of its own nursery. One task (the one running
`Supervisor.run`) reacts to child exits one at a time, like an OTP supervisor process:
it decides whether to restart, which siblings go with it (the strategy), waits the
backoff delay, and restarts. While it waits, the restarting child's mailbox keeps
queueing (refs stay valid); other exits wait their turn.

Orderly stop (`stop()`, a strategy restarting siblings, giving up) stops children in
reverse start order; each finishes its current message, then `stopping()` runs, all
within the child's `shutdown_timeout`, after which the child is cancelled. Cancelling
`run()` from outside instead cancels every child at once; each still runs its
`stopping()` shielded within its shutdown timeout.
"""

from __future__ import annotations

import enum
import logging
import math
import random
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

import attrs
import trio

from ._actor import Actor, ActorRef, _Cell, _Incarnation
from ._backoff import backoff_delay
from ._errors import SupervisorGaveUp
from ._events import EventHook, emit
from ._registry import Registry


class Restart(enum.Enum):
    """When a child that ended is started again."""

    PERMANENT = "permanent"  # always
    TRANSIENT = "transient"  # only after an abnormal exit (an exception)
    TEMPORARY = "temporary"  # never, not even with its siblings


class Charge(enum.Enum):
    """Whom a crash while handling a message is charged to."""

    MESSAGE = "message"  # the message: restart at once, not counted in the intensity
    SUPERVISOR = "supervisor"  # the supervisor, like any other crash (plain OTP)


class Strategy(enum.Enum):
    """Which children restart when one must."""

    ONE_FOR_ONE = "one_for_one"  # only that child
    ONE_FOR_ALL = "one_for_all"  # all children
    REST_FOR_ONE = "rest_for_one"  # that child and those started after it


def _non_negative(_: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not value >= 0:
        raise ValueError(f"{attribute.name} must be >= 0, got {value!r}")


@attrs.frozen
class ChildSpec:
    """How to (re)start one child. `factory` makes a fresh `Actor` (or a `Supervisor`,
    for a subtree) on every start.

    For a subtree, `shutdown_timeout` bounds the whole subtree's orderly stop: make it
    at least the sum of its children's. `on_start`, for an actor child, is called with
    its ref each time it has started (`Shared` publishes its owner's ref this way).
    `message_crashes` says whom a crash of this actor in `receive` is charged to (see
    `runtime`); crashes elsewhere (`started`, helper tasks) are always charged to the
    supervisor.
    """

    name: str = attrs.field(validator=attrs.validators.instance_of(str))
    factory: Callable[[], Actor | Supervisor] = attrs.field(
        validator=attrs.validators.is_callable()
    )
    restart: Restart = attrs.field(
        default=Restart.PERMANENT, validator=attrs.validators.instance_of(Restart)
    )
    shutdown_timeout: float = attrs.field(default=5.0, validator=_non_negative)
    on_start: Callable[[ActorRef], None] | None = attrs.field(default=None, eq=False)
    message_crashes: Charge = attrs.field(
        default=Charge.MESSAGE, validator=attrs.validators.instance_of(Charge)
    )


class _GiveUp(Exception):
    def __init__(self, cause: BaseException | None) -> None:
        super().__init__()
        self.cause = cause


@attrs.frozen
class _Exit:
    child: _Child
    gen: int
    exc: BaseException | None
    by_message: bool = False  # `exc` is what `receive` raised on a message


class _Status:
    """Relays `started()` to the real task status and remembers that it happened."""

    __slots__ = ("inner", "reported")

    def __init__(self, inner: trio.TaskStatus[None]) -> None:
        self.inner = inner
        self.reported = False

    def started(self, value: None = None) -> None:
        self.reported = True
        self.inner.started(value)


class _Child:
    __slots__ = (
        "spec",
        "cell",
        "instance",
        "gen",
        "state",
        "stop_requested",
        "scope",
        "done",
        "restart_times",
    )

    def __init__(self, spec: ChildSpec) -> None:
        self.spec = spec
        self.cell: _Cell | None = None
        self.instance: Actor | Supervisor | None = None
        self.gen = 0
        self.state = "stopped"
        self.stop_requested = False
        self.scope: trio.CancelScope | None = None
        self.done: trio.Event | None = None
        self.restart_times: deque[float] = deque()

    @property
    def alive(self) -> bool:
        return self.done is not None and not self.done.is_set()

    def request_stop(self, deadline: float) -> None:
        self.stop_requested = True
        assert self.scope is not None
        self.scope.deadline = min(self.scope.deadline, deadline)
        instance = self.instance
        if isinstance(instance, Supervisor):
            instance.stop_nowait()
        elif isinstance(instance, Actor) and instance._incarnation is not None:
            instance._incarnation.request_stop(deadline)


def _unwrap(exc: BaseException) -> BaseException:
    """The single leaf of nested one-exception groups, else the group itself."""
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return exc


class Supervisor:
    """Starts children in order, restarts them by their `Restart` type and the
    `strategy`, and gives up (stops them all, raises `SupervisorGaveUp` out of `run`)
    after more than `intensity` restarts within `period` seconds.

    Restarts wait a backoff delay: uniform in [0, min(backoff_max, backoff_base *
    2**(n-1))] where n counts the child's restarts within `period` (`rng` seeds it).
    Actor children are registered in `registry` under their child name while they live.
    A subtree without its own registry / on_event inherits its parent's.
    Each lifecycle event is logged on logger "runtime" with ``extra={"event": ...}``
    and passed as a dict to `on_event`.

    A supervisor instance runs once; a parent restarting a subtree calls its factory.
    """

    def __init__(
        self,
        name: str,
        children: Iterable[ChildSpec],
        *,
        strategy: Strategy = Strategy.ONE_FOR_ONE,
        intensity: int = 3,
        period: float = 5.0,
        backoff_base: float = 0.05,
        backoff_max: float = 2.0,
        registry: Registry | None = None,
        on_event: EventHook | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.name = name
        self._children = [_Child(spec) for spec in children]
        names = [c.spec.name for c in self._children]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate child names in supervisor {name!r}: {names}")
        if intensity < 0 or period <= 0 or backoff_base < 0 or backoff_max < 0:
            raise ValueError("intensity, backoff must be >= 0 and period > 0")
        self.strategy = strategy
        self.intensity = intensity
        self.period = period
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self._registry = registry
        self._on_event = on_event
        self._rng = rng if rng is not None else random.Random()
        self.restarts = 0
        self._restart_times: deque[float] = deque()
        self._ran = False
        self._stop_requested = False
        self._main_scope: trio.CancelScope | None = None
        self._nursery: trio.Nursery | None = None
        self._exits: trio.MemorySendChannel[_Exit] | None = None
        self._done = trio.Event()

    def __repr__(self) -> str:
        return f"<Supervisor {self.name!r}>"

    @property
    def registry(self) -> Registry | None:
        return self._registry

    # -- public surface -------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Start the children in order, then supervise until stopped.

        With ``await nursery.start(sup.run)``, returns once every child has started.
        Returns normally after `stop()`; raises `SupervisorGaveUp` past the restart
        intensity (out of `nursery.start` if that happens while starting).
        """
        if self._ran:
            raise RuntimeError(f"{self!r} already ran; make a new Supervisor")
        self._ran = True
        status = _Status(task_status)
        send, recv = trio.open_memory_channel[_Exit](math.inf)
        self._exits = send
        gave_up: _GiveUp | None = None
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                try:
                    with trio.CancelScope() as self._main_scope:
                        if self._stop_requested:
                            self._main_scope.cancel()
                        for child in self._children:
                            await self._start_with_retry(child)
                        self._emit("supervisor.start", "supervisor %s started", logging.DEBUG)
                        status.started()
                        async for exit_ in recv:
                            await self._on_exit(exit_)
                except _GiveUp as exc:
                    gave_up = exc
                await self._stop_children(reversed(self._children))
        finally:
            for child in self._children:
                self._retire(child)
            self._done.set()
        if gave_up is not None:
            raise SupervisorGaveUp(self.name, self.intensity, self.period) from gave_up.cause
        self._emit("supervisor.stop", "supervisor %s stopped", logging.DEBUG)
        if not status.reported:
            status.started()

    async def stop(self) -> None:
        """Stop the children in reverse start order (each within its shutdown timeout),
        then let `run()` return. Do not await this from one of its own children: use
        `stop_nowait()` there."""
        self.stop_nowait()
        if self._ran:
            await self._done.wait()
        else:
            await trio.lowlevel.checkpoint()

    def stop_nowait(self) -> None:
        """Request `stop()` without waiting for it."""
        self._stop_requested = True
        if self._main_scope is not None:
            self._main_scope.cancel()

    def states(self) -> dict[str, str]:
        """Child name -> "starting" | "running" | "restarting" | "stopped" | "failed",
        subtrees flattened in."""
        out: dict[str, str] = {}
        for child in self._children:
            out[child.spec.name] = child.state
            if isinstance(child.instance, Supervisor):
                out.update(child.instance.states())
        return out

    def ref(self, name: str) -> ActorRef:
        """The ref of actor child `name`, searching subtrees; `LookupError` if none
        (or the child has not started yet)."""
        for child in self._children:
            if child.spec.name == name and child.cell is not None:
                return child.cell.ref
        for child in self._children:
            if isinstance(child.instance, Supervisor):
                try:
                    return child.instance.ref(name)
                except LookupError:
                    pass
        raise LookupError(f"no actor {name!r} under supervisor {self.name!r}")

    # -- internals ------------------------------------------------------------------

    def _emit(
        self,
        event: str,
        message: str,
        level: int = logging.INFO,
        *,
        exc: BaseException | None = None,
        **fields: Any,
    ) -> None:
        fields["supervisor"] = self.name
        args = (fields["actor"],) if "actor" in fields else (self.name,)
        emit(self._on_event, event, message % args, level=level, exc=exc, **fields)

    async def _start_with_retry(self, child: _Child) -> None:
        """Start `child`; a failed start counts as a crash (restart, backoff, intensity)."""
        while True:
            error = await self._start_child(child)
            if error is None:
                return
            self._emit(
                "actor.crash",
                "%s failed to start",
                logging.ERROR,
                exc=error,
                actor=child.spec.name,
                phase="start",
            )
            if child.spec.restart is Restart.TEMPORARY:
                child.state = "failed"
                self._retire(child, error)
                return
            delay = self._note_restart(child, error)
            child.state = "restarting"
            await trio.sleep(delay)

    async def _start_child(self, child: _Child) -> BaseException | None:
        spec = child.spec
        try:
            instance = spec.factory()
        except Exception as exc:
            return exc
        child.gen += 1
        child.state = "starting"
        child.stop_requested = False
        child.instance = instance
        child.scope = trio.CancelScope()
        child.done = trio.Event()
        incarnation: _Incarnation | None = None
        if isinstance(instance, Supervisor):
            if instance._registry is None:
                instance._registry = self._registry
            if instance._on_event is None:
                instance._on_event = self._on_event
            runner = instance.run
        elif isinstance(instance, Actor):
            if child.cell is None or child.cell.closed:
                child.cell = _Cell(spec.name, instance.mailbox_size)
            incarnation = _Incarnation(instance, child.cell, spec.shutdown_timeout)
            runner = incarnation.run
        else:
            child.done.set()
            return TypeError(f"factory of {spec.name!r} made {instance!r}, not an Actor or Supervisor")
        assert self._nursery is not None
        try:
            await self._nursery.start(self._child_main, child, child.gen, runner, incarnation)
        except Exception as exc:
            return _unwrap(exc)
        child.state = "running"
        if child.cell is not None:
            if self._registry is not None:
                self._registry.register(spec.name, child.cell.ref)
            if spec.on_start is not None:
                spec.on_start(child.cell.ref)
        self._emit("actor.start", "%s started", actor=spec.name, incarnation=child.gen)
        return None

    async def _child_main(
        self,
        child: _Child,
        gen: int,
        runner: Callable[..., Any],
        incarnation: _Incarnation | None,
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        status = _Status(task_status)
        exc: BaseException | None = None
        assert child.scope is not None and child.done is not None
        try:
            with child.scope:
                await runner(task_status=status)
        except Exception as error:
            if not status.reported:
                raise
            exc = _unwrap(error)
        finally:
            child.done.set()
        if status.reported:
            # Only when the message's exception alone ended the actor: if a helper
            # task failed too, the exit is a group and counts as the actor's own.
            by_message = exc is not None and incarnation is not None and incarnation.poisoned_by is exc
            assert self._exits is not None
            self._exits.send_nowait(_Exit(child, gen, exc, by_message))

    async def _on_exit(self, exit_: _Exit) -> None:
        child = exit_.child
        if exit_.gen != child.gen or child.stop_requested:
            return  # we stopped it ourselves, or a stale incarnation
        exc = exit_.exc
        name = child.spec.name
        if exc is None:
            self._emit("actor.stop", "%s stopped", actor=name, reason="normal")
        else:
            self._emit(
                "actor.crash",
                "%s crashed on a message" if exit_.by_message else "%s crashed",
                logging.ERROR,
                exc=exc,
                actor=name,
                phase="message" if exit_.by_message else "run",
            )
        restart = child.spec.restart
        if restart is Restart.TEMPORARY or (restart is Restart.TRANSIENT and exc is None):
            child.state = "stopped" if exc is None else "failed"
            self._retire(child, exc)
            return
        child.state = "restarting"
        if exit_.by_message and child.spec.message_crashes is Charge.MESSAGE:
            delay = self._note_message_restart(child)
        else:
            delay = self._note_restart(child, exc)
        group = self._group(child)
        siblings = [c for c in group if c is not child and c.alive]
        await self._stop_children(reversed(siblings))
        to_start = [child]
        for sibling in siblings:
            if sibling.spec.restart is Restart.TEMPORARY:
                self._retire(sibling)
            else:
                sibling.state = "restarting"
                to_start.append(sibling)
        await trio.sleep(delay)
        for c in group:
            if c in to_start:
                await self._start_with_retry(c)

    def _group(self, child: _Child) -> list[_Child]:
        if self.strategy is Strategy.ONE_FOR_ONE:
            return [child]
        if self.strategy is Strategy.ONE_FOR_ALL:
            return list(self._children)
        return self._children[self._children.index(child) :]

    def _note_restart(self, child: _Child, cause: BaseException | None) -> float:
        """Count a restart against the intensity (raise _GiveUp past it); return the
        backoff delay."""
        now = trio.current_time()
        horizon = now - self.period
        times = self._restart_times
        times.append(now)
        while times and times[0] < horizon:
            times.popleft()
        if len(times) > self.intensity:
            emit(
                self._on_event,
                "supervisor.give_up",
                f"supervisor {self.name} gives up: more than {self.intensity} restarts "
                f"in {self.period} s (last: {child.spec.name})",
                level=logging.ERROR,
                exc=cause,
                supervisor=self.name,
                actor=child.spec.name,
                intensity=self.intensity,
                period=self.period,
            )
            raise _GiveUp(cause)
        mine = child.restart_times
        mine.append(now)
        while mine and mine[0] < horizon:
            mine.popleft()
        self.restarts += 1
        delay = backoff_delay(len(mine), self.backoff_base, self.backoff_max, self._rng)
        self._emit(
            "actor.restart",
            "%s restarting",
            actor=child.spec.name,
            delay=delay,
            attempt=len(mine),
            restarts=self.restarts,
            charged="supervisor",
        )
        return delay

    def _note_message_restart(self, child: _Child) -> float:
        """A crash on a message is charged to that message: the restart is counted in
        `restarts` but not against the intensity nor the child's backoff, and it
        happens at once (the actor's state was fine until the message came)."""
        self.restarts += 1
        self._emit(
            "actor.restart",
            "%s restarting",
            actor=child.spec.name,
            delay=0.0,
            attempt=0,
            restarts=self.restarts,
            charged="message",
        )
        return 0.0

    async def _stop_children(self, children: Iterable[_Child]) -> None:
        for child in children:
            await self._stop_child(child)

    async def _stop_child(self, child: _Child) -> None:
        """Orderly stop: current message, then stopping(), within shutdown_timeout."""
        if not child.alive:
            return
        assert child.done is not None
        started = trio.current_time()
        child.request_stop(started + child.spec.shutdown_timeout)
        await child.done.wait()
        child.state = "stopped"
        self._emit(
            "actor.stop",
            "%s stopped",
            actor=child.spec.name,
            reason="shutdown",
            took=trio.current_time() - started,
        )

    def _retire(self, child: _Child, cause: BaseException | None = None) -> None:
        """The child ends for good: unregister it and close its mailbox."""
        if child.state in ("starting", "running", "restarting"):
            child.state = "stopped"
        cell = child.cell
        if cell is not None:
            if self._registry is not None:
                self._registry.unregister(child.spec.name, cell.ref)
            cell.close(cause)


async def spawn(
    nursery: trio.Nursery,
    factory: Callable[[], Actor],
    name: str,
    *,
    restart: Restart = Restart.PERMANENT,
    shutdown_timeout: float = 5.0,
    **supervisor_options: Any,
) -> ActorRef:
    """Start one actor under its own one-for-one supervisor in `nursery` and return
    its ref: handy in tests and small programs. Cancel the nursery to stop it (its
    `stopping()` still runs)."""
    supervisor = Supervisor(
        f"{name}.supervisor",
        [ChildSpec(name, factory, restart, shutdown_timeout)],
        **supervisor_options,
    )
    await nursery.start(supervisor.run)
    return supervisor.ref(name)
