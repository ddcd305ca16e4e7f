"""Exceptions of the runtime. Only `Rejection` is meant to be raised by actor code."""

from __future__ import annotations


class Rejection(Exception):
    """Raised by `Actor.receive` to answer an ask with an error; the actor lives on.

    The same exception object is raised in the asker. Raised while handling a `tell`,
    it is logged and dropped.
    """


class Overloaded(Exception):
    """The target mailbox is full and the caller chose not to wait."""

    def __init__(self, actor: str) -> None:
        super().__init__(f"mailbox of {actor!r} is full")
        self.actor = actor


class AskTimeout(Exception):
    """No reply within the ask timeout (enqueueing plus handling)."""

    def __init__(self, actor: str, timeout: float) -> None:
        super().__init__(f"no reply from {actor!r} within {timeout} s")
        self.actor = actor
        self.timeout = timeout


class ActorStopped(Exception):
    """The actor is not running, or stopped (crashed or was stopped) before replying.

    When the actor crashed while handling the ask, the crash is chained as
    ``__cause__``.
    """

    def __init__(self, actor: str, detail: str = "stopped") -> None:
        super().__init__(f"actor {actor!r} {detail}")
        self.actor = actor


class ActorCrashed(ActorStopped):
    """The actor crashed while handling this very ask (the crash is ``__cause__``).

    Sending the same message again will most likely crash it again: a caller should
    report an internal error, not retry. The crash is charged to the message, not to
    the supervisor's restart intensity (see `runtime`).
    """

    def __init__(self, actor: str) -> None:
        super().__init__(actor, "crashed")


class SupervisorGaveUp(Exception):
    """A supervisor saw more than `intensity` restarts within `period` seconds.

    It stopped all its children and raised this out of `Supervisor.run`, so its
    parent (if any) treats it as a crash of the subtree. The last crash is chained as
    ``__cause__``.
    """

    def __init__(self, supervisor: str, intensity: int, period: float) -> None:
        super().__init__(
            f"supervisor {supervisor!r}: more than {intensity} restarts in {period} s"
        )
        self.supervisor = supervisor
        self.intensity = intensity
        self.period = period
