"""Playback values: what a session is, what a position report is, what a resume says."""

from __future__ import annotations

import time

import attrs

from actors.errors import InvalidParams
from actors.playback.rules import ResumeRules

__all__ = [
    "Entry",
    "Marked",
    "NextUp",
    "PlaybackSettings",
    "Report",
    "ResumeState",
    "Session",
    "SessionKey",
    "Started",
    "Stopped",
    "UserStamps",
    "Watching",
    "wall_ms",
]


def wall_ms() -> int:
    """Wall-clock time as epoch milliseconds (what storage keeps)."""
    return int(time.time() * 1000)


class UserStamps:
    """Update times that tell one user's updates apart: the wall-clock millisecond, or
    one after the user's last stamp on this node when the clock has not passed it. Two
    items stopped within a millisecond then still say which came last, as continue
    watching and Next Up (most recent first) need."""

    def __init__(self) -> None:
        self._last: dict[str, int] = {}

    def stamp(self, user_id: str, wall: int) -> int:
        last = self._last.get(user_id)
        if last is not None and wall <= last:
            wall = last + 1
        self._last[user_id] = wall
        return wall

    def forget_before(self, wall: int) -> None:
        """Drop the users whose last stamp is older than `wall` (no later stamp can meet it)."""
        self._last = {user: last for user, last in self._last.items() if last >= wall}


def _positive(instance: object, attribute: attrs.Attribute, value: float) -> None:
    if not value > 0:
        raise ValueError(f"{attribute.name} must be positive")


@attrs.frozen
class PlaybackSettings:
    """How the playback actor keeps positions.

    `flush_interval`: an update is written within this many seconds (plus the time of
    one write); each (user, item) is written at most once per interval, whatever rate
    clients send at. `idle_timeout`: a session with no update for this long is closed
    (checked every `sweep_interval`, so closing happens up to that much later).
    `max_sessions_per_user`: starting one more closes that user's least recently seen.
    """

    flush_interval: float = attrs.field(default=1.0, validator=_positive)
    idle_timeout: float = attrs.field(default=1800.0, validator=_positive)
    max_sessions_per_user: int = attrs.field(default=16, validator=_positive)
    rules: ResumeRules = ResumeRules()

    @property
    def sweep_interval(self) -> float:
        return min(self.idle_timeout / 4, 60.0)


@attrs.frozen(slots=True)
class SessionKey:
    """What the edge needs to accept a position for a session: immutable, published by
    the actor for every session it holds."""

    session_id: str
    user_id: str
    content_id: str
    duration_ms: int  # 0: unknown, any position >= 0 is accepted
    device_id: str = ""
    played: bool = False  # the item's played flag as the session's node last knew it

    def check_position(self, position_ms: int) -> None:
        """InvalidParams (field position_ms) unless 0 <= position_ms <= duration."""
        if position_ms < 0 or (self.duration_ms > 0 and position_ms > self.duration_ms):
            raise InvalidParams("position_ms", f"must be between 0 and the item's duration ({self.duration_ms} ms)")


@attrs.frozen(slots=True)
class Report:
    """One position update as received: `at` is its trio time (idleness), `first_at` that
    of the oldest update it replaced in its slot (durability lag), `updated_at`
    wall-clock ms (what is stored), `seq` the order of arrival on this node."""

    key: SessionKey
    position_ms: int
    updated_at: int
    at: float
    first_at: float
    seq: int


@attrs.define(slots=True)
class Session:
    key: SessionKey
    device_id: str
    started_at: int  # wall ms
    last_seen: float  # trio time of the last report
    touched: float  # trio time of the last_seen_at written to storage
    position_ms: int = 0  # the last position reported in this session


@attrs.define(slots=True)
class Entry:
    """The latest position of one user in one item, as this node knows it."""

    position_ms: int
    duration_ms: int
    updated_at: int  # wall ms; never decreases for a key on this node
    seq: int  # arrival order of the report it came from; 0 when read from storage
    dirty_since: float | None = None  # trio time of the oldest update not yet written
    played: bool = False  # see rules.PLAYED_RULES
    marked: bool = False  # completed by playback.mark_played, not by a position
    session_id: str = ""  # the session of the report it came from ("" for a mark or a stored row)

    def reported(self, position_ms: int, duration_ms: int, updated_at: int, seq: int, rules: ResumeRules,
                 session_id: str = "") -> None:
        """A position came in (rules.PLAYED_RULES): finishing marks the item played, and
        nothing a position says unmarks it."""
        self.session_id = session_id
        self.position_ms = position_ms
        self.duration_ms = duration_ms
        # Never below what this node already knows: the last update here wins, even if
        # the wall clock stepped back.
        self.updated_at = max(updated_at, self.updated_at)
        self.seq = seq
        self.marked = False
        self.played = self.played or rules.evaluate(position_ms, duration_ms).completed

    def mark(self, played: bool, now_ms: int) -> None:
        """playback.mark_played: played sets completed and clears the resume point;
        unplayed clears both. Later than anything this node knew of the item."""
        self.position_ms = 0
        self.session_id = ""
        self.marked = played
        self.played = played
        self.updated_at = max(now_ms, self.updated_at + 1)

    def state(self, rules: ResumeRules, duration_ms: int | None = None) -> ResumeState:
        """What a resume says for this entry (with the item's current duration if given)."""
        if self.marked:
            return ResumeState(0, False, True, 1.0, self.updated_at, True)
        d = rules.evaluate(self.position_ms, self.duration_ms if duration_ms is None else duration_ms)
        return ResumeState(d.position_ms, d.offer_resume, d.completed, d.progress, self.updated_at,
                           self.played or d.completed)


@attrs.frozen
class ResumeState:
    position_ms: int
    offer_resume: bool
    completed: bool
    progress: float
    updated_at: int | None  # wall ms; None when nothing was ever recorded
    played: bool = False


@attrs.frozen
class Started:
    session_id: str
    resume: ResumeState


@attrs.frozen
class Stopped:
    position_ms: int
    completed: bool


@attrs.frozen
class Watching:
    content_id: str
    position_ms: int
    progress: float
    updated_at: int


@attrs.frozen
class Marked:
    content_id: str
    played: bool
    position_ms: int  # where a start resumes now: always 0


@attrs.frozen
class NextUp:
    """The next episode of a series the user is watching."""

    series_id: str
    content_id: str
    watched_at: int  # wall ms of the user's latest activity in the series
