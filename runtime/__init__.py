"""An actor runtime for trio: bounded mailboxes, ask/tell, OTP-style supervision,
a name registry and phased shutdown. Knows nothing of the application.

Guarantees in short:

- An `Actor` handles one message at a time; `ask` has a finite default timeout
  (`DEFAULT_ASK_TIMEOUT`), a full mailbox makes senders wait or raises `Overloaded`.
- `Rejection` raised by `receive` answers the asker and the actor goes on; any other
  exception crashes it, the asker gets `ActorStopped` (cause chained) and the
  supervisor decides (`Restart`, `Strategy`, intensity, backoff with jitter).
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
from ._errors import ActorStopped, AskTimeout, Overloaded, Rejection, SupervisorGaveUp
from ._registry import Registry
from ._shared import Shared
from ._shutdown import ShutdownCoordinator
from ._supervisor import ChildSpec, Restart, Strategy, Supervisor, spawn

__all__ = [
    "DEFAULT_ASK_TIMEOUT",
    "Actor",
    "ActorRef",
    "ActorStopped",
    "AskTimeout",
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
    "spawn",
]
