"""Messages of the playback actor (registered as "playback").

Position updates are not messages: they go through `PositionIntake.offer`.
"""

from __future__ import annotations

import attrs

from actors.paging import Page


@attrs.frozen
class Start:
    """Open a session. The caller has checked that the item exists (its duration)."""

    user_id: str
    content_id: str
    duration_ms: int
    device_id: str = ""


@attrs.frozen
class Adopt:
    """Take over an open session this node does not hold (after a restart, or one
    started on another node): answers its `SessionKey`, or NotFound."""

    session_id: str
    user_id: str


@attrs.frozen
class Stop:
    """End a session, optionally with a last position: answers `Stopped`. `origin`
    names the connection that asked (see sync.py), whose own subscriptions are not told."""

    user_id: str
    session_id: str
    position_ms: int | None = None
    origin: str = ""


@attrs.frozen
class MarkPlayed:
    """playback.mark_played (the caller has checked the item exists): answers `Marked`."""

    user_id: str
    content_id: str
    duration_ms: int
    played: bool
    origin: str = ""


@attrs.frozen
class NextUpQuery:
    """Answers a `Slice` of `NextUp`, most recently watched series first."""

    user_id: str
    page: Page
    rewatching: bool = False


@attrs.frozen
class EndedElsewhere:
    """Sessions another node ended (told by sync.py): drop them, refuse them from now on."""

    session_ids: tuple[str, ...]


@attrs.frozen
class GetResume:
    """Where `user_id` would resume `content_id` (current duration from the catalog)."""

    user_id: str
    content_id: str
    duration_ms: int


@attrs.frozen
class ContinueWatching:
    """Answers a `Slice` of `Watching`, most recent first."""

    user_id: str
    page: Page


@attrs.frozen
class Flush:
    """Write every pending position now; answers the number of rows written."""
