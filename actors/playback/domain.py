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
from actors.kv import MemoryKV
from actors.paging import Page, Slice
from actors.playback.actor import FlushObserver, PlaybackActor, PlaybackStats
from actors.playback.intake import PositionIntake
from actors.playback.messages import (
    Adopt,
    ContinueWatching,
    EndedElsewhere,
    GetResume,
    MarkPlayed,
    NextUpQuery,
    Start,
    Stop,
)
from actors.playback.model import (
    Marked,
    NextUp,
    PlaybackSettings,
    ResumeState,
    SessionKey,
    Started,
    Stopped,
    Watching,
)
from actors.playback.sync import Change, PlaybackSync, SyncActor
from runtime import ActorStopped, Overloaded, Shared

NAME = "playback"
SYNC = "playback.sync"


class PlaybackDomain:
    """What the node's other parts call on playback. `children`: its actors; `intake`:
    where position updates land, shared with the actor that takes them; `sync`: the
    changes told to the user's other devices and other nodes (sync.py), its listener
    set by whoever serves subscriptions; `stats`: the actor's counters.

    `origin` arguments name the connection a call came on, so that its own
    subscriptions are not told of its own changes."""

    def __init__(self, env: DomainEnv, settings: PlaybackSettings, *,
                 on_flush: FlushObserver | None = None, shutdown_timeout: float = 5.0) -> None:
        self.settings = settings
        self.rules = settings.rules
        self.node_id = env.node_id
        self.stats = PlaybackStats()
        self.intake = Shared(NAME, PositionIntake())
        # One node when the KV is in-process: nothing to tell other nodes.
        self.sync = Shared(SYNC, PlaybackSync(env.node_id, multi_node=not isinstance(env.kv, MemoryKV)))
        self.sync.state.on_ended = self._ended_elsewhere
        stats = self.stats
        sync = self.sync.state
        self.children = [
            self.sync.child(lambda state: SyncActor(state, env.kv)),
            # Its stop flushes: the caller gives it the budget of a slow write or two.
            self.intake.child(
                lambda intake: PlaybackActor(env.storage, intake, settings, stats=stats, on_flush=on_flush,
                                             sync=sync),
                shutdown_timeout=shutdown_timeout),
        ]

    def origin(self, connection_id: int) -> str:
        """The origin of a change made on connection `connection_id` of this node."""
        return f"{self.node_id}/{connection_id}"

    def _ended_elsewhere(self, session_ids: tuple[str, ...]) -> None:
        self.intake.state.end_elsewhere(session_ids)
        try:
            self.intake.ref.tell_nowait(EndedElsewhere(session_ids))
        except (Overloaded, LookupError, ActorStopped):
            pass  # the intake refuses them already; the actor's sweep lets them go

    async def start_session(self, user_id: str, item: ContentItem, device_id: str = "") -> Started:
        """Open a session of `user_id` on `item`; says where to resume."""
        started: Started = await self.intake.ref.ask(Start(user_id, item.id, item.duration_ms, device_id))
        return started

    async def report_position(self, user_id: str, session_id: str, position_ms: int, origin: str = "") -> None:
        """Accept a position update, written behind (`InvalidParams` past the item's
        duration, `NotFound` for a session that is not this user's open one)."""
        intake = self.intake.state
        key: SessionKey | None = intake.lookup(session_id, user_id)
        if key is None:
            # Not held here yet: take it over once; a full mailbox is Overloaded at once.
            key = await self.intake.ref.ask(Adopt(session_id, user_id), wait=False)
        report = intake.offer(key, position_ms)
        sync = self.sync.state
        if sync.wanted(user_id):
            completed = self.rules.evaluate(position_ms, key.duration_ms).completed
            sync.changed(Change(user_id, key.content_id, position_ms, completed, key.played or completed,
                                key.device_id, report.updated_at, origin))

    async def stop_session(self, user_id: str, session_id: str, position_ms: int | None = None,
                           origin: str = "") -> Stopped:
        """End a session (at a last position, written at once); where the next start
        resumes and whether the item counts as finished."""
        stopped: Stopped = await self.intake.ref.ask(Stop(user_id, session_id, position_ms, origin))
        return stopped

    async def mark_played(self, user_id: str, item: ContentItem, played: bool, origin: str = "") -> Marked:
        """Mark an item played (completed, no resume point) or unplayed (neither);
        written at once (rules.PLAYED_RULES)."""
        marked: Marked = await self.intake.ref.ask(MarkPlayed(user_id, item.id, item.duration_ms, played, origin))
        return marked

    async def next_up(self, user_id: str, page: Page, rewatching: bool = False) -> Slice[NextUp]:
        """The next episode of each series the user is watching, most recent first."""
        found: Slice[NextUp] = await self.intake.ref.ask(NextUpQuery(user_id, page, rewatching))
        return found

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
