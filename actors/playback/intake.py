"""Where `playback.position` lands: a conflated mailbox, one slot per live session.

Position updates are the one message that arrives at the rate clients choose, so they
do not go through the playback actor's bounded mailbox. The method handler checks the
update against the session directory the actor publishes here (whose session, which
item, how long) and puts it in that session's slot, replacing whatever was waiting:
a dictionary write, no task switch, no actor round trip. The actor takes the slots
whenever it needs the latest positions (before every message it handles, before every
flush, before sweeping idle sessions), so nothing it answers or writes is older than
what the intake holds.

Why this and not `tell_nowait` per update: a full mailbox would have to drop either
the new update or an older one; with a slot per session the older one is always the
one dropped (it is superseded), memory is bounded by the number of live sessions, and
a client sending faster than anyone can use is coalesced, never failed.

Only the actor writes `sessions`; handlers only read it. Everything runs in one trio
thread, so neither side needs a lock.
"""

from __future__ import annotations

from typing import Callable

import trio

from actors.errors import NotFound
from actors.playback.model import Report, SessionKey, wall_ms

__all__ = ["MAX_ENDED", "PositionIntake"]

MAX_ENDED = 65_536


class PositionIntake:
    """The session directory and the pending position slots. Create one per gateway
    and hand it to every incarnation of the playback actor (it outlives restarts, as
    the mailbox does)."""

    def __init__(self, clock_ms: Callable[[], int] = wall_ms) -> None:
        self.sessions: dict[str, SessionKey] = {}
        self.ended: dict[str, None] = {}  # sessions ended on another node, most recent last
        self.pending: dict[str, Report] = {}
        self.received = 0  # updates accepted
        self.coalesced = 0  # updates that replaced one still waiting in its slot
        self.pending_since: float | None = None  # trio time the oldest waiting update came in
        self._clock_ms = clock_ms
        self._seq = 0
        self._arrived = trio.Event()

    def lookup(self, session_id: str, user_id: str) -> SessionKey | None:
        """The session's key; None if this node does not hold it; NotFound if it is
        another user's (indistinguishable, for that user, from a session that does not
        exist)."""
        key = self.sessions.get(session_id)
        if key is not None and key.user_id != user_id:
            raise NotFound("playback session not found")
        return key

    def end_elsewhere(self, session_ids: tuple[str, ...]) -> None:
        """Sessions another node ended: refused here from now on (the actor, told too,
        lets them go). The last `MAX_ENDED` are remembered."""
        for sid in session_ids:
            self.sessions.pop(sid, None)
            self.pending.pop(sid, None)
            self.ended[sid] = None
        while len(self.ended) > MAX_ENDED:
            del self.ended[next(iter(self.ended))]

    def offer(self, key: SessionKey, position_ms: int) -> Report:
        """Accept an update (InvalidParams when out of range); the latest per session wins."""
        key.check_position(position_ms)
        self._seq += 1
        now = trio.current_time()
        pending = self.pending
        first = now
        if not pending:
            self.pending_since = now
            self._arrived.set()
        else:
            replaced = pending.get(key.session_id)
            if replaced is not None:
                self.coalesced += 1
                first = replaced.first_at
        report = pending[key.session_id] = Report(key, position_ms, self._clock_ms(), now, first, self._seq)
        self.received += 1
        return report

    def next_seq(self) -> int:
        """A sequence number for an update the actor makes itself (a stop's position)."""
        self._seq += 1
        return self._seq

    def take(self) -> dict[str, Report]:
        """Everything waiting, emptying the slots."""
        pending = self.pending
        if pending:
            self.pending = {}
            self.pending_since = None
        return pending

    async def wait_for_updates(self) -> None:
        """Return once at least one update is waiting."""
        while not self.pending:
            if self._arrived.is_set():
                self._arrived = trio.Event()
            await self._arrived.wait()
