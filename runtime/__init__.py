"""An actor runtime for trio: bounded mailboxes, ask/tell, OTP-style supervision,
a name registry and phased shutdown. Knows nothing of the application.

Guarantees in short:

- An `Actor` handles one message at a time; `ask` has a finite default timeout
  (`DEFAULT_ASK_TIMEOUT`), a full mailbox makes senders wait or raises `Overloaded`.
- `Rejection` raised by `receive` answers the asker and the actor goes on; any other
  exception crashes it, the asker gets `ActorCrashed` (an `ActorStopped`, cause
  chained) and the supervisor decides (`Restart`, `Strategy`, intensity, backoff
  with jitter).
- Poison messages: a crash in `receive` is charged to the message that caused it,
  not to the node (`ChildSpec.message_crashes`, default `Charge.MESSAGE`). The actor
  is restarted at once, by its `Restart` type and the `Strategy`, and the restart is
  counted in `Supervisor.restarts` and logged (``phase="message"``), but not against
  the intensity nor the child's backoff: however many messages crash an actor, and
  however fast, they cannot make its supervisor give up (OTP would: there a restart
  is a restart, so one client sending the same bad request intensity + 1 times stops
  the node). Crashes that are the actor's own -- in `started`, in a helper task, or
  a message crash that coincides with one -- count as always, so an actor that
  cannot run still escalates. The message itself is lost (it is not retried), and it
  is not quarantined: a client can vary its input, and refusing a message that once
  met a passing fault (a database hiccup) would turn that fault into an outage.
  `Charge.SUPERVISOR` restores plain OTP accounting for a child.
- An `ActorRef` is stable across restarts: the mailbox belongs to the supervisor's
  child slot, so messages queued while the actor restarts are handled by the next
  incarnation; only the message being handled at the crash is lost. When a child ends
  for good its queued asks get `ActorStopped`.
- An ask whose asker has given up (timeout, cancellation) is skipped, not handled.
- `stopping()` runs once whenever a started actor ends, shielded, within the child's
  shutdown timeout (skipped if the actor had to be killed at that timeout).
- `Shared` keeps state beside an actor (like an ETS table): made once for the child
  slot, handed to every incarnation, read by other tasks without an ask.
- Every start, crash, restart (with its delay), stop and give-up is logged on logger
  "runtime" with ``extra={"event": ..., "actor": ..., "supervisor": ...}`` and passed
  to the supervisor's `on_event` hook.

Everything public is re-exported here; the underscore modules are private.
"""

from ._actor import DEFAULT_ASK_TIMEOUT, Actor, ActorRef
from ._backoff import backoff_delay
from ._errors import (
    ActorCrashed,
    ActorStopped,
    AskTimeout,
    Overloaded,
    Rejection,
    SupervisorGaveUp,
)
from ._registry import Registry
from ._shared import Shared
from ._shutdown import ShutdownCoordinator
from ._supervisor import Charge, ChildSpec, Restart, Strategy, Supervisor, spawn

__all__ = [
    "DEFAULT_ASK_TIMEOUT",
    "Actor",
    "ActorCrashed",
    "ActorRef",
    "ActorStopped",
    "AskTimeout",
    "Charge",
    "ChildSpec",
    "Overloaded",
    "Registry",
    "Rejection",
    "Restart",
    "Shared",
    "ShutdownCoordinator",
    "Strategy",
    "Supervisor",
    "SupervisorGaveUp",
    "backoff_delay",
    "spawn",
]
