"""Actors, their refs and mailboxes.

An actor is a task that owns its state and reads a bounded mailbox. The mailbox and
the `ActorRef` pointing at it belong to the supervisor's child slot, not to one actor
instance: when the supervisor restarts the actor, the new instance reads the same
mailbox, so a ref stays valid across restarts and messages queued during a restart
are handled by the next incarnation. The message being handled when the actor crashed
is lost (its asker gets `ActorCrashed`). When the slot ends for good (temporary or
transient child that is not restarted, supervisor stopped or gave up), the mailbox is
closed and every ask still queued gets `ActorStopped`.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import outcome
import trio
from trio.lowlevel import Abort, current_task, reschedule, wait_task_rescheduled

from ._errors import ActorCrashed, ActorStopped, AskTimeout, Overloaded, Rejection
from ._timeouts import ask_timer

if TYPE_CHECKING:
    from ._registry import Registry

DEFAULT_ASK_TIMEOUT = 5.0

logger = logging.getLogger("runtime")


class _Call:
    """An ask in flight: the message plus a one-shot reply slot.

    The asker parks with `wait_task_rescheduled` and the actor reschedules it with the
    outcome: cheaper than a `trio.Event` or a one-slot channel (see bench/runtime_ask.py).
    """

    __slots__ = ("msg", "result", "waiter", "abandoned")

    def __init__(self, msg: object) -> None:
        self.msg = msg
        self.result: outcome.Outcome[Any] | None = None
        self.waiter: trio.lowlevel.Task | None = None
        # Set when the asker stopped waiting (timeout, cancel): the actor skips it.
        self.abandoned = False

    def settle(self, result: outcome.Outcome[Any]) -> None:
        if self.result is not None:
            return
        self.result = result
        waiter = self.waiter
        if waiter is not None:
            self.waiter = None
            reschedule(waiter, result)

    async def wait(self) -> Any:
        result = self.result
        if result is not None:
            # Settled while we were still inside `send` (mailbox was full): the send
            # already checkpointed.
            return result.unwrap()
        self.waiter = current_task()

        def abort(_: object) -> Abort:
            self.waiter = None
            self.abandoned = True
            return Abort.SUCCEEDED

        return await wait_task_rescheduled(abort)


class _Cell:
    """The mailbox of one supervised child slot; outlives actor incarnations."""

    __slots__ = ("name", "send", "recv", "closed", "registry", "ref")

    def __init__(self, name: str, size: int | float) -> None:
        self.name = name
        self.send, self.recv = trio.open_memory_channel[object](size)
        self.closed = False
        self.registry: Registry | None = None
        self.ref = ActorRef(name, self)

    def close(self, cause: BaseException | None = None) -> None:
        """Close for good: fail every queued ask with `ActorStopped`, refuse new ones."""
        if self.closed:
            return
        self.closed = True
        while True:
            try:
                item = self.recv.receive_nowait()
            except (trio.WouldBlock, trio.EndOfChannel, trio.ClosedResourceError):
                break
            if type(item) is _Call:
                item.settle(outcome.Error(_stopped(self.name, cause)))
        self.recv.close()


def _stopped(name: str, cause: BaseException | None, detail: str = "stopped") -> ActorStopped:
    err = ActorStopped(name, detail)
    err.__cause__ = cause
    return err


class ActorRef:
    """A stable, cheap handle to an actor: send it messages, ask it questions.

    Valid across restarts of the actor by its supervisor. If the actor's whole subtree
    is restarted (a new supervisor instance), the old ref forwards to the ref now
    registered under the same name in the registry, if any; otherwise it raises
    `ActorStopped`.
    """

    __slots__ = ("name", "_cell")

    def __init__(self, name: str, cell: _Cell) -> None:
        self.name = name
        self._cell = cell

    def __repr__(self) -> str:
        return f"<ActorRef {self.name!r}>"

    @property
    def capacity(self) -> int | float:
        """Mailbox size."""
        return self._cell.send.statistics().max_buffer_size

    def depth(self) -> int:
        """Messages waiting in the mailbox (not counting senders blocked on a full one)."""
        if self._cell.closed:
            return 0
        return self._cell.send.statistics().current_buffer_used

    @property
    def alive(self) -> bool:
        """False once the mailbox is closed for good."""
        return not self._cell.closed

    def _successor(self) -> ActorRef:
        """The ref that replaced this one, or raise ActorStopped."""
        registry = self._cell.registry
        if registry is not None:
            current = registry.get(self.name)
            if current is not None and current is not self and not current._cell.closed:
                return current
        raise ActorStopped(self.name)

    async def tell(self, msg: object) -> None:
        """Enqueue `msg`, waiting for room in the mailbox (backpressure)."""
        try:
            await self._cell.send.send(msg)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            await self._successor().tell(msg)

    def tell_nowait(self, msg: object) -> None:
        """Enqueue `msg` or raise `Overloaded` at once if the mailbox is full."""
        try:
            self._cell.send.send_nowait(msg)
        except trio.WouldBlock:
            raise Overloaded(self.name) from None
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            self._successor().tell_nowait(msg)

    async def ask(
        self,
        msg: object,
        *,
        timeout: float | None = DEFAULT_ASK_TIMEOUT,
        wait: bool = True,
    ) -> Any:
        """Send `msg` and return what the actor's `receive` returns.

        `timeout` covers enqueueing and the reply (`AskTimeout`); None waits forever.
        With ``wait=False`` a full mailbox raises `Overloaded` at once. A `Rejection`
        raised by `receive` is raised here; if the actor crashes or stops before
        replying, `ActorStopped` (crash chained as ``__cause__``). An ask whose asker
        has already given up (timeout, cancellation) is skipped by the actor.
        """
        call = _Call(msg)
        try:
            self._cell.send.send_nowait(call)
        except trio.WouldBlock:
            if not wait:
                raise Overloaded(self.name) from None
            return await self._ask_blocking(call, timeout)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            return await self._successor().ask(msg, timeout=timeout, wait=wait)
        if timeout is not None and timeout < math.inf:
            ask_timer().add(call, timeout, self.name)
        # Parking here is the ask's checkpoint; wait() marks the call abandoned if
        # cancelled.
        return await call.wait()

    async def _ask_blocking(self, call: _Call, timeout: float | None) -> Any:
        """Slow path: the mailbox is full, wait for room under a cancel scope."""
        with trio.move_on_after(math.inf if timeout is None else timeout):
            try:
                await self._cell.send.send(call)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                ref = self._successor()
                return await ref.ask(call.msg, timeout=timeout, wait=True)
            return await call.wait()
        call.abandoned = True
        raise AskTimeout(self.name, timeout if timeout is not None else math.inf)


class Actor:
    """Base class: override `receive`, and `started` / `stopping` if needed.

    An instance is one incarnation: the supervisor calls its child's factory for a
    fresh instance on every (re)start. Callbacks run one at a time in the actor's task,
    so the state needs no locks; helper tasks started with `start_soon` run
    concurrently with it.
    """

    mailbox_size: int = 1024

    name: str = ""  # the child name, set when the actor starts
    _incarnation: _Incarnation | None = None

    async def started(self) -> None:
        """Initialise state (may do I/O). The actor counts as started when it returns.

        Raising here is a failed start: the supervisor treats it as a crash.
        """

    async def receive(self, msg: object) -> object:
        """Handle one message; the return value is the reply to an ask.

        Raise `Rejection` (or a subclass) to answer an ask with an error and go on.
        Any other exception crashes the actor.
        """
        raise Rejection(f"{type(self).__name__} does not handle {type(msg).__name__}")

    async def stopping(self) -> None:
        """Flush and release. Called once when a started actor ends for any reason
        (orderly stop, crash, restart, cancellation), after its helper tasks are
        cancelled, shielded, within the child's shutdown timeout. Exceptions are logged.
        """

    @property
    def ref(self) -> ActorRef:
        inc = self._incarnation
        if inc is None:
            raise RuntimeError("actor is not running")
        return inc.cell.ref

    def start_soon(self, fn: Callable[..., Awaitable[object]], *args: object) -> None:
        """Run ``fn(*args)`` as a helper task of this actor (from `started` on).

        The task is cancelled when the actor stops; if it raises, the actor crashes.
        """
        inc = self._incarnation
        if inc is None or inc.nursery is None:
            raise RuntimeError("start_soon() is only usable while the actor runs")
        inc.nursery.start_soon(fn, *args)

    def stop(self) -> None:
        """Ask this actor to stop normally after the current message."""
        inc = self._incarnation
        if inc is not None:
            inc.request_stop()


class _Incarnation:
    """Runs one actor instance against its cell's mailbox."""

    __slots__ = (
        "actor",
        "cell",
        "shutdown_timeout",
        "nursery",
        "stop_requested",
        "stop_deadline",
        "idle",
        "loop_scope",
        "poisoned_by",
    )

    def __init__(self, actor: Actor, cell: _Cell, shutdown_timeout: float) -> None:
        self.actor = actor
        self.cell = cell
        self.shutdown_timeout = shutdown_timeout
        self.nursery: trio.Nursery | None = None
        self.stop_requested = False
        self.stop_deadline = math.inf
        self.idle = False
        self.loop_scope: trio.CancelScope | None = None
        # What `receive` raised when a message crashed this incarnation: the
        # supervisor charges such a crash to the message, not to its intensity.
        self.poisoned_by: BaseException | None = None

    def request_stop(self, deadline: float | None = None) -> None:
        """Stop after the current message; `stopping()` must end by `deadline`."""
        self.stop_requested = True
        if deadline is not None:
            self.stop_deadline = min(self.stop_deadline, deadline)
        if self.idle and self.loop_scope is not None:
            self.loop_scope.cancel()

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        actor = self.actor
        actor.name = self.cell.name
        actor._incarnation = self
        started = False
        try:
            async with trio.open_nursery() as nursery:
                self.nursery = nursery
                await actor.started()
                started = True
                task_status.started()
                await self._loop()
                nursery.cancel_scope.cancel()
        finally:
            self.nursery = None
            if started:
                await self._stopping()
            actor._incarnation = None

    async def _stopping(self) -> None:
        if self.stop_deadline < math.inf:
            budget = self.stop_deadline - trio.current_time()
        else:
            budget = self.shutdown_timeout
        if budget <= 0:
            logger.warning(
                "%s was killed at its shutdown timeout; stopping() skipped",
                self.cell.name,
                extra={"event": "actor.stopping_timeout", "actor": self.cell.name},
            )
            return
        with trio.move_on_after(budget, shield=True) as scope:
            try:
                await self.actor.stopping()
            except Exception:
                logger.exception(
                    "stopping() of %s failed",
                    self.cell.name,
                    extra={"event": "actor.stopping_failed", "actor": self.cell.name},
                )
        if scope.cancelled_caught:
            logger.warning(
                "stopping() of %s cut off after its shutdown timeout",
                self.cell.name,
                extra={"event": "actor.stopping_timeout", "actor": self.cell.name},
            )

    async def _loop(self) -> None:
        recv = self.cell.recv
        receive = self.actor.receive
        name = self.cell.name
        with trio.CancelScope() as self.loop_scope:
            while not self.stop_requested:
                self.idle = True
                item = await recv.receive()
                self.idle = False
                if type(item) is _Call:
                    if item.abandoned:
                        continue
                    try:
                        result = await receive(item.msg)
                    except Rejection as exc:
                        item.settle(outcome.Error(exc))
                    except trio.Cancelled as exc:
                        item.settle(outcome.Error(_stopped(name, exc)))
                        raise
                    except BaseException as exc:
                        self.poisoned_by = exc
                        crashed = ActorCrashed(name)
                        crashed.__cause__ = exc
                        item.settle(outcome.Error(crashed))
                        raise
                    else:
                        item.settle(outcome.Value(result))
                else:
                    try:
                        await receive(item)
                    except Rejection as exc:
                        logger.info(
                            "%s rejected a told %s: %s",
                            name,
                            type(item).__name__,
                            exc,
                            extra={"event": "actor.rejected", "actor": name},
                        )
                    except trio.Cancelled:
                        raise
                    except BaseException as exc:
                        self.poisoned_by = exc
                        raise
