"""An actor runtime for trio: bounded mailboxes, ask/tell, OTP-style supervision,
a name registry and phased shutdown. Knows nothing of the application.

Everything public is re-exported here; the underscore modules are private.
"""

from ._actor import DEFAULT_ASK_TIMEOUT, Actor, ActorRef
from ._errors import ActorStopped, AskTimeout, Overloaded, Rejection, SupervisorGaveUp
from ._registry import Registry
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
    "ShutdownCoordinator",
    "Strategy",
    "Supervisor",
    "SupervisorGaveUp",
    "spawn",
]
