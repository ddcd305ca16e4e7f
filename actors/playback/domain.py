"""The playback domain's entry: `start(env, settings)` gives the playback actor's child
spec and the facade handlers call.

`report_position` is the hot path: it checks the session against the directory the
playback actor publishes and drops the update into the session's slot of the
`PositionIntake` (kept beside the actor as a `Shared`; see intake.py): no actor round
trip, no database write. Only a session this node does not hold yet (after a restart,
or one started on another node) costs an ask, once.
"""

from __future__ import annotations

from actors.catalog.model import ContentItem
from actors.env import DomainEnv
from actors.paging import Page, Slice
from actors.playback.actor import FlushObserver, PlaybackActor, PlaybackStats
from actors.playback.intake import PositionIntake
from actors.playback.messages import Adopt, ContinueWatching, GetResume, Start, Stop
from actors.playback.model import PlaybackSettings, ResumeState, SessionKey, Started, Stopped, Watching
from runtime import Shared

NAME = "playback"


class PlaybackDomain:
    """What the node's other parts call on playback. `children`: its actor; `intake`:
    where position updates land, shared with the actor that takes them; `stats`: the
    actor's counters."""

    def __init__(self, env: DomainEnv, settings: PlaybackSettings, *,
                 on_flush: FlushObserver | None = None, shutdown_timeout: float = 5.0) -> None:
        self.settings = settings
        self.stats = PlaybackStats()
        self.intake = Shared(NAME, PositionIntake())
        stats = self.stats
        # Its stop flushes: the caller gives it the budget of a slow write or two.
        self.children = [self.intake.child(
            lambda intake: PlaybackActor(env.storage, intake, settings, stats=stats, on_flush=on_flush),
            shutdown_timeout=shutdown_timeout)]

    async def start_session(self, user_id: str, item: ContentItem, device_id: str = "") -> Started:
        """Open a session of `user_id` on `item`; says where to resume."""
        started: Started = await self.intake.ref.ask(Start(user_id, item.id, item.duration_ms, device_id))
        return started

    async def report_position(self, user_id: str, session_id: str, position_ms: int) -> None:
        """Accept a position update, written behind (`InvalidParams` past the item's
        duration, `NotFound` for a session that is not this user's open one)."""
        intake = self.intake.state
        key: SessionKey | None = intake.lookup(session_id, user_id)
        if key is None:
            # Not held here yet: take it over once; a full mailbox is Overloaded at once.
            key = await self.intake.ref.ask(Adopt(session_id, user_id), wait=False)
        intake.offer(key, position_ms)

    async def stop_session(self, user_id: str, session_id: str, position_ms: int | None = None) -> Stopped:
        """End a session (at a last position, written at once); where the next start
        resumes and whether the item counts as finished."""
        stopped: Stopped = await self.intake.ref.ask(Stop(user_id, session_id, position_ms))
        return stopped

    async def resume_state(self, user_id: str, item: ContentItem) -> ResumeState:
        """Where `user_id` would resume `item` (its current duration decides)."""
        state: ResumeState = await self.intake.ref.ask(GetResume(user_id, item.id, item.duration_ms))
        return state

    async def continue_watching(self, user_id: str, page: Page) -> Slice[Watching]:
        """Items the user can resume, most recent first, one page."""
        found: Slice[Watching] = await self.intake.ref.ask(ContinueWatching(user_id, page))
        return found


def start(env: DomainEnv, settings: PlaybackSettings = PlaybackSettings(), *,
          on_flush: FlushObserver | None = None, shutdown_timeout: float = 5.0) -> PlaybackDomain:
    """The playback domain of this node: its child spec (nothing runs until a supervisor
    starts it) and its facade. `on_flush` is told of every flush (for the lag metric)."""
    return PlaybackDomain(env, settings, on_flush=on_flush, shutdown_timeout=shutdown_timeout)
