"""The playback actor: live sessions and the latest position per user and item.

State (all in memory, owned here):

- `sessions`: the open sessions this node holds, published read-only to the edge
  through `PositionIntake.sessions`;
- `entries`: the latest position per (user, item) for items with a live session or an
  unwritten update; `dirty`: the keys whose entry is not yet in storage.

Position updates arrive through the intake (see intake.py), not the mailbox. They are
written behind: a helper task writes every dirty entry in one batched statement
`flush_interval` seconds after the oldest unwritten update came in, so each update is
durable within the interval plus one write, and each (user, item) costs at most one
row per interval however fast clients send. `stopping()` writes what is left, so an
orderly stop (SIGTERM) loses nothing; a crash of the process loses at most the last
interval. A `playback.stop` writes at once. Sessions are rows too (written when they
start, deleted when they end), so another node, or this one after a restart, can take
one over; storage decides which node ends a session (store.py), and a position of a
session ended elsewhere is never written over its stop.

Every change of a user's state (a stop, a mark played; positions are told by the
domain's hot path) goes to `sync` (sync.py), and so do the sessions that end here; the
sessions other nodes ended are let go (`EndedElsewhere`) and refused from then on.
"""

from __future__ import annotations

import logging
import secrets
from typing import Any, Awaitable, Callable, TypeVar

import attrs
import trio

from actors.errors import NotFound, storage_errors
from actors.paging import KeysetPage, OffsetPage, Page, Slice, keyset_slice
from actors.playback import store
from actors.playback.intake import PositionIntake
from actors.playback.sync import Change, PlaybackSync
from actors.playback.messages import (
    Adopt,
    ContinueWatching,
    EndedElsewhere,
    Flush,
    GetResume,
    MarkPlayed,
    NextUpQuery,
    Start,
    Stop,
)
from actors.playback.model import (
    Entry,
    Marked,
    NextUp,
    PlaybackSettings,
    Report,
    ResumeState,
    Session,
    SessionKey,
    Started,
    Stopped,
    UserStamps,
    Watching,
    wall_ms,
)
from actors.storage import Storage, StorageError
from runtime import Actor

log = logging.getLogger("actors.playback")

Key = tuple[str, str]  # (user_id, content_id)
T = TypeVar("T")
FlushObserver = Callable[[int, list[float]], None]
"""Called after each successful flush with (rows written, seconds each row's oldest
update waited to become durable)."""

MAX_REMEMBERED_MISSES = 4096


class PlaybackStats:
    """Counters for metrics and tests. `statements` counts every statement the actor
    sends to storage (an executemany batch is one)."""

    def __init__(self) -> None:
        self.flushes = 0
        self.rows_written = 0
        self.statements = 0
        self.flush_failures = 0
        self.sweeps = 0
        self.unflushed = 0  # entries not yet durable (dirty, or in a write under way)
        self.writing = 0  # rows in a write under way
        self.sessions = 0
        self._changed = trio.Event()

    def note(self) -> None:
        """Wake whoever waits in `until` (after a flush or a sweep)."""
        self._changed.set()
        self._changed = trio.Event()

    async def until(self, predicate: Callable[[], bool]) -> None:
        """Return once `predicate()` holds, re-checked after every flush and sweep."""
        while not predicate():
            await self._changed.wait()


class PlaybackActor(Actor):
    mailbox_size = 512

    def __init__(
        self,
        storage: Storage,
        intake: PositionIntake,
        settings: PlaybackSettings = PlaybackSettings(),
        *,
        stats: PlaybackStats | None = None,
        on_flush: FlushObserver | None = None,
        clock_ms: Callable[[], int] = wall_ms,
        sync: PlaybackSync | None = None,
    ) -> None:
        self.storage = storage
        self.intake = intake
        self.sync = sync
        self.settings = settings
        self.rules = settings.rules
        self.stats = stats if stats is not None else PlaybackStats()
        self.on_flush = on_flush
        self.clock_ms = clock_ms
        self.sessions: dict[str, Session] = {}
        self.by_user: dict[str, dict[str, None]] = {}  # user -> session ids, oldest first
        self.entries: dict[Key, Entry] = {}
        self.stamps = UserStamps()
        self.dirty: set[Key] = set()
        self.writing = 0  # rows in a flush under way
        self.in_flight: set[Key] = set()  # the keys of those rows
        self.misses: dict[str, None] = {}  # session ids known not to be adoptable
        self._flush_lock = trio.Lock()

    # -- lifecycle ---------------------------------------------------------------

    async def started(self) -> None:
        # A new incarnation holds no sessions: clients' sessions are adopted again from
        # storage on their next message. Waiting updates stay in the intake.
        self.intake.sessions.clear()
        self.start_soon(self._flush_loop)
        self.start_soon(self._sweep_loop)

    async def stopping(self) -> None:
        try:
            rows = await self.flush()
            await self._touch(everyone=True)
        except StorageError as exc:
            log.error("playback positions could not be written at stop: %s", exc,
                      extra={"event": "playback.flush_failed", "rows": len(self.dirty)})
            return
        log.info("playback stopped; wrote %d pending positions", rows,
                 extra={"event": "playback.stopped", "rows": rows})

    async def receive(self, msg: object) -> Any:
        self._drain()
        if type(msg) is Start:
            return await self._start(msg)
        if type(msg) is Adopt:
            return (await self._adopt(msg.session_id, msg.user_id)).key
        if type(msg) is Stop:
            return await self._stop(msg)
        if type(msg) is GetResume:
            return await self._resume_state(msg.user_id, msg.content_id, msg.duration_ms)
        if type(msg) is ContinueWatching:
            return await self._continue_watching(msg)
        if type(msg) is MarkPlayed:
            return await self._mark(msg)
        if type(msg) is NextUpQuery:
            return await self._next_up(msg)
        if type(msg) is EndedElsewhere:
            return self._ended_elsewhere(msg.session_ids)
        if type(msg) is Flush:
            return await self.flush()
        return await super().receive(msg)

    # -- updates -----------------------------------------------------------------

    def _drain(self) -> None:
        """Apply every update waiting in the intake."""
        pending = self.intake.take()
        if not pending:
            return
        sessions = self.sessions
        # In arrival order: a session's later report keeps its first one's place in
        # `pending`, and a user's stamps must follow arrival.
        for sid, report in sorted(pending.items(), key=lambda taken: taken[1].seq):
            session = sessions.get(sid)
            if session is not None:
                session.last_seen = report.at
                session.position_ms = report.position_ms
            self._apply(report)

    def _apply(self, report: Report) -> None:
        sid = report.key.session_id
        if sid in self.misses or sid in self.intake.ended:
            return  # taken while its session was ending: the stop's position stands
        key = (report.key.user_id, report.key.content_id)
        entry = self.entries.get(key)
        if entry is None:
            entry = self.entries[key] = Entry(0, 0, 0, 0, report.first_at, played=report.key.played)
        elif report.seq <= entry.seq:
            return  # an older update than the one already applied
        elif entry.dirty_since is None:
            entry.dirty_since = report.first_at
        updated_at = self.stamps.stamp(report.key.user_id, report.updated_at)
        entry.reported(report.position_ms, report.key.duration_ms, updated_at, report.seq, self.rules, sid)
        self.dirty.add(key)
        self.stats.unflushed = len(self.dirty) + self.writing

    async def flush(self) -> int:
        """Write every dirty entry in one batched statement; the number of rows."""
        async with self._flush_lock:
            self._drain()
            self.stamps.forget_before(self.clock_ms())
            if not self.dirty:
                return 0
            keys, self.dirty = self.dirty, set()
            rows = []
            waited: dict[Key, float] = {}
            for key in keys:
                entry = self.entries.get(key)
                if entry is None:
                    continue
                rows.append(store.position_row(key[0], key[1], entry, self.rules))
                waited[key] = entry.dirty_since if entry.dirty_since is not None else trio.current_time()
                entry.dirty_since = None
            if not rows:
                return 0
            self.writing = self.stats.writing = len(rows)
            self.in_flight = keys
            self.stats.unflushed = len(self.dirty) + self.writing
            try:
                self.stats.statements += 1
                await store.write_positions(self.storage, rows)
            except BaseException:
                self.stats.flush_failures += 1
                self.stats.note()
                for key, since in waited.items():
                    entry = self.entries.get(key)
                    if entry is not None:
                        entry.dirty_since = since if entry.dirty_since is None else min(since, entry.dirty_since)
                self.dirty |= keys
                raise
            finally:
                self.writing = self.stats.writing = 0
                self.in_flight = set()
                self.stats.unflushed = len(self.dirty)
            now = trio.current_time()
            self.stats.rows_written += len(rows)
            self.stats.flushes += 1
            self.stats.note()
            if self.on_flush is not None:
                self.on_flush(len(rows), [now - since for since in waited.values()])
            return len(rows)

    async def _flush_loop(self) -> None:
        interval = self.settings.flush_interval
        while True:
            if not self.dirty:
                await self.intake.wait_for_updates()
            oldest = min((e.dirty_since for k in self.dirty if (e := self.entries.get(k)) and e.dirty_since),
                         default=None)
            since = self.intake.pending_since
            candidates = [t for t in (oldest, since) if t is not None]
            await trio.sleep_until((min(candidates) if candidates else trio.current_time()) + interval)
            try:
                await self.flush()
            except StorageError as exc:
                log.warning("writing playback positions failed (%s); retrying in %.1f s", exc, interval,
                            extra={"event": "playback.flush_failed", "rows": len(self.dirty)})
                await trio.sleep(interval)

    # -- sessions ----------------------------------------------------------------

    def _hold(self, session: Session) -> None:
        sid = session.key.session_id
        self.sessions[sid] = session
        self.by_user.setdefault(session.key.user_id, {})[sid] = None
        self.intake.sessions[sid] = session.key
        self.stats.sessions = len(self.sessions)

    def _release(self, session: Session) -> None:
        sid = session.key.session_id
        self.sessions.pop(sid, None)
        self.intake.sessions.pop(sid, None)
        self._remember_miss(sid)  # ended: never adopted again, not even while the end is written
        mine = self.by_user.get(session.key.user_id)
        if mine is not None:
            mine.pop(sid, None)
            if not mine:
                del self.by_user[session.key.user_id]
        self.stats.sessions = len(self.sessions)

    def _last_seen_ms(self, session: Session, now_ms: int) -> int:
        return now_ms - int(max(0.0, trio.current_time() - session.last_seen) * 1000)

    async def _start(self, msg: Start) -> Started:
        resume = await self._resume_state(msg.user_id, msg.content_id, msg.duration_ms)
        mine = self.by_user.get(msg.user_id, {})
        if len(mine) >= self.settings.max_sessions_per_user:
            oldest = min((self.sessions[s] for s in mine), key=lambda s: s.last_seen)
            await self._end([oldest])
        now_ms = self.clock_ms()
        now = trio.current_time()
        key = SessionKey(secrets.token_urlsafe(16), msg.user_id, msg.content_id, max(0, msg.duration_ms),
                         msg.device_id, resume.played)
        session = Session(key, msg.device_id, now_ms, now, now, resume.position_ms)
        with storage_errors():
            self.stats.statements += 1
            await store.insert_session(self.storage, session, resume.position_ms, now_ms)
        self._hold(session)
        return Started(key.session_id, resume)

    async def _adopt(self, session_id: str, user_id: str) -> Session:
        """This node's session `session_id` of `user_id`, taken over from storage if
        needed; NotFound if there is no such open session of that user."""
        session = self.sessions.get(session_id)
        if session_id in self.intake.ended:
            if session is not None:
                self._release(session)
            raise NotFound("playback session not found")
        if session is not None:
            if session.key.user_id != user_id:
                raise NotFound("playback session not found")
            return session
        if session_id in self.misses:
            raise NotFound("playback session not found")
        with storage_errors():
            self.stats.statements += 1
            row = await store.get_session(self.storage, session_id)
        now_ms = self.clock_ms()
        stale_ms = now_ms - int((self.settings.idle_timeout + self.settings.sweep_interval) * 1000)
        if row is None or row["ended_at"] is not None or int(row["last_seen_at"]) < stale_ms:
            self._remember_miss(session_id)
            raise NotFound("playback session not found")
        if row["user_id"] != user_id:
            raise NotFound("playback session not found")
        known = await self._entry(user_id, row["content_id"])
        session = self.sessions.get(session_id)  # adopted by another ask meanwhile
        if session is None:
            now = trio.current_time()
            key = SessionKey(session_id, user_id, row["content_id"], int(row["duration_ms"]), row["device_id"],
                             known is not None and known.state(self.rules).played)
            session = Session(key, row["device_id"], int(row["started_at"]), now, now)
            self._hold(session)
            log.info("adopted playback session %s", session_id,
                     extra={"event": "playback.adopted", "session": session_id})
        return session

    def _remember_miss(self, session_id: str) -> None:
        self.misses[session_id] = None
        if len(self.misses) > MAX_REMEMBERED_MISSES:
            del self.misses[next(iter(self.misses))]

    async def _stop(self, msg: Stop) -> Stopped:
        session = await self._adopt(msg.session_id, msg.user_id)
        key = session.key
        if msg.position_ms is not None:
            key.check_position(msg.position_ms)
            now = trio.current_time()
            session.last_seen = now
            session.position_ms = msg.position_ms
            self._apply(Report(key, msg.position_ms, self.clock_ms(), now, now, self.intake.next_seq()))
        # Held from here: the answer comes from this entry whatever a sweep running
        # while the end is written does to `entries` (it answered 0 once).
        entry = self.entries.get((key.user_id, key.content_id))
        # The answer tells the client where it will resume: durable with the end.
        if not await self._end([session]):
            raise NotFound("playback session not found")  # another node (or stop) ended it first
        if entry is None:
            return Stopped(0, False)
        self._changed(key.user_id, key.content_id, entry, key.device_id, msg.origin)
        decision = self.rules.evaluate(entry.position_ms, key.duration_ms)
        return Stopped(decision.position_ms, decision.completed)

    async def _end(self, sessions: list[Session]) -> list[Session]:
        """End `sessions` in storage in one transaction, with the unwritten positions
        they reported and the latest of their items; the ones this node ended (storage
        had them open). The others ended elsewhere: they are let go too, and what they
        reported here is forgotten."""
        ids = {s.key.session_id for s in sessions}
        items = {(s.key.user_id, s.key.content_id) for s in sessions}
        rules = self.rules
        async with self._flush_lock:
            self._drain()
            due = {k: e for k in self.dirty
                   if (e := self.entries.get(k)) is not None and (e.session_id in ids or k in items)}
            seqs = {k: e.seq for k, e in due.items()}
            with storage_errors():
                async with self.storage.transaction() as tx:
                    self.stats.statements += 1
                    ended = set(await store.end_sessions(tx, sorted(ids)))
                    # Theirs whatever storage says now that they end here; another
                    # session's latest on the same item only while that one is open.
                    now = [store.position_row(k[0], k[1], e, rules) for k, e in due.items() if e.session_id in ended]
                    behind = [store.position_row(k[0], k[1], e, rules) for k, e in due.items() if e.session_id not in ids]
                    if now:
                        self.stats.statements += 1
                        await store.write_positions_now(tx, now)
                    if behind:
                        self.stats.statements += 1
                        await store.write_positions(tx, behind)
            for key, entry in due.items():
                if entry.session_id in ended or entry.session_id not in ids:
                    if self.entries.get(key) is entry and entry.seq == seqs[key]:
                        self.dirty.discard(key)  # written, and nothing newer came in meanwhile
                        entry.dirty_since = None
            self.stats.unflushed = len(self.dirty) + self.writing
        mine = [s for s in sessions if s.key.session_id in ended]
        for s in sessions:
            self._release(s)
        self._forget_reports_of([s for s in sessions if s.key.session_id not in ended])
        if self.sync is not None and mine:
            self.sync.ended_here([s.key.session_id for s in mine])
        return mine

    def _forget_reports_of(self, sessions: list[Session]) -> None:
        """Drop what sessions ended elsewhere reported here (their item's entry, if its
        latest report is theirs): storage has their stop and never takes their later
        positions, so reads go to storage from now on."""
        for session in sessions:
            key = (session.key.user_id, session.key.content_id)
            entry = self.entries.get(key)
            if entry is not None and entry.session_id == session.key.session_id:
                del self.entries[key]
                self.dirty.discard(key)
        self.stats.unflushed = len(self.dirty) + self.writing

    def _ended_elsewhere(self, session_ids: tuple[str, ...]) -> None:
        held = [s for sid in session_ids if (s := self.sessions.get(sid)) is not None]
        for session in held:
            self._release(session)
        self._forget_reports_of(held)
        if not session_ids:  # notices may have been lost: check every held session soon
            self.start_soon(self._recheck)

    async def _recheck(self) -> None:
        """Let go of held sessions that another node ended (storage says so)."""
        held = list(self.sessions)
        try:
            self.stats.statements += 1
            ended = await store.ended_among(self.storage, held)
        except StorageError as exc:
            log.warning("cannot check playback sessions: %s", exc, extra={"event": "playback.recheck_failed"})
            return
        if ended:
            self.intake.end_elsewhere(tuple(ended))
            self._ended_elsewhere(tuple(ended))

    def _changed(self, user_id: str, content_id: str, entry: Entry, device_id: str, origin: str) -> None:
        """Tell the user's other devices (sync.py), if anyone listens."""
        sync = self.sync
        if sync is None or not sync.wanted(user_id):
            return
        state = entry.state(self.rules)
        sync.changed(Change(user_id, content_id, entry.position_ms, state.completed, state.played, device_id,
                            entry.updated_at, origin))

    async def _sweep_loop(self) -> None:
        """Close sessions idle past the timeout; keep live ones' last_seen_at fresh in
        storage (so that they can be adopted); forget entries nobody needs."""
        while True:
            await trio.sleep(self.settings.sweep_interval)
            try:
                await self.sweep()
            except StorageError as exc:
                log.warning("playback sweep failed: %s", exc, extra={"event": "playback.sweep_failed"})
            self.stats.sweeps += 1
            self.stats.note()

    async def sweep(self) -> None:
        self._drain()
        now = trio.current_time()
        idle = [s for s in self.sessions.values() if now - s.last_seen >= self.settings.idle_timeout]
        if idle:
            log.info("closing %d idle playback sessions", len(idle),
                     extra={"event": "playback.idle_closed", "count": len(idle)})
            await self._end(idle)
        await self._touch()
        # Sessions whose node died: unseen for longer than any live node keeps one.
        stale_ms = self.clock_ms() - int((self.settings.idle_timeout + 2 * self.settings.sweep_interval) * 1000)
        self.stats.statements += 1
        await store.purge_stale_sessions(self.storage, stale_ms)
        if self.sync is not None and self.sync.multi_node and self.sessions:
            await self._recheck()
        if self.writing:
            return  # entries being written are still needed if the write fails
        live = {(s.key.user_id, s.key.content_id) for s in self.sessions.values()}
        for key in [k for k in self.entries if k not in live and k not in self.dirty]:
            del self.entries[key]

    async def _touch(self, everyone: bool = False) -> None:
        now_ms = self.clock_ms()
        fresh = [s for s in self.sessions.values() if everyone or s.last_seen > s.touched]
        if not fresh:
            return
        rows = [(s.key.session_id, self._last_seen_ms(s, now_ms), s.position_ms) for s in fresh]
        self.stats.statements += 1
        await store.touch_sessions(self.storage, rows)
        for s in fresh:
            s.touched = s.last_seen

    # -- reading -----------------------------------------------------------------

    async def _entry(self, user_id: str, content_id: str) -> Entry | None:
        """The latest of what this node holds and what storage has (another node may
        have written later)."""
        key = (user_id, content_id)
        with storage_errors():
            self.stats.statements += 1
            row = await store.get_position(self.storage, user_id, content_id)
        entry = self.entries.get(key)
        # Memory is ahead of storage only while it has something unwritten; otherwise
        # storage is right (it refused a position of a session ended elsewhere).
        unwritten = key in self.dirty or key in self.in_flight
        if row is None and entry is not None and not unwritten:
            del self.entries[key]
            return None
        if row is not None and (entry is None or not unwritten or int(row["updated_at"]) > entry.updated_at):
            if entry is None:
                entry = self.entries[key] = Entry(0, 0, 0, 0)
            entry.position_ms = int(row["position_ms"])
            entry.duration_ms = int(row["duration_ms"])
            entry.updated_at = int(row["updated_at"])
            entry.played = bool(row["played"])
            entry.marked = bool(row["completed"]) and not self.rules.evaluate(
                entry.position_ms, entry.duration_ms).completed
            entry.session_id = ""
            entry.dirty_since = None
            self.dirty.discard(key)
            self.stats.unflushed = len(self.dirty) + self.writing
        return entry

    async def _resume_state(self, user_id: str, content_id: str, duration_ms: int) -> ResumeState:
        entry = await self._entry(user_id, content_id)
        if entry is None:
            return ResumeState(0, False, False, 0.0, None)
        return entry.state(self.rules, duration_ms)

    async def _continue_watching(self, msg: ContinueWatching) -> Slice[Watching]:
        user, rules = msg.user_id, self.rules
        return await self._listing(
            user, msg.page,
            count=lambda: store.count_resumable(self.storage, user, rules),
            at_offset=lambda offset, limit: store.list_resumable_offset(self.storage, user, rules, offset, limit),
            after=lambda key, limit: store.list_resumable_after(self.storage, user, rules, key, limit),
            convert=self._watching, key=lambda w: (w.updated_at, w.content_id))

    async def _next_up(self, msg: NextUpQuery) -> Slice[NextUp]:
        user, again = msg.user_id, msg.rewatching
        return await self._listing(
            user, msg.page,
            count=lambda: store.count_next_up(self.storage, user, again),
            at_offset=lambda offset, limit: store.list_next_up_offset(self.storage, user, again, offset, limit),
            after=lambda key, limit: store.list_next_up_after(self.storage, user, again, key, limit),
            convert=_next_up, key=lambda n: (n.watched_at, n.series_id))

    async def _listing(self, user_id: str, page: Page, *, count: Callable[[], Awaitable[int]],
                       at_offset: Callable[[int, int], Awaitable[list[dict[str, Any]]]],
                       after: Callable[[Any, int], Awaitable[list[dict[str, Any]]]],
                       convert: Callable[[dict[str, Any]], T], key: Callable[[T], tuple]) -> Slice[T]:
        """One page of a listing read from storage, once the user's pending positions
        are written."""
        if self.writing or any(k[0] == user_id for k in self.dirty):
            with storage_errors():
                await self.flush()
        with storage_errors():
            if isinstance(page, OffsetPage):
                self.stats.statements += 2
                total = await count()
                return Slice([convert(r) for r in await at_offset(page.offset, page.page_size)], total)
            assert isinstance(page, KeysetPage)
            self.stats.statements += 1
            rows = await after(page.after, page.limit + 1)
        return keyset_slice([convert(r) for r in rows], page, key)

    async def _mark(self, msg: MarkPlayed) -> Marked:
        key = (msg.user_id, msg.content_id)
        known = await self._entry(msg.user_id, msg.content_id)
        marked = Entry(0, max(0, msg.duration_ms), 0 if known is None else known.updated_at, 0)
        marked.mark(msg.played, self.stamps.stamp(msg.user_id, self.clock_ms()))
        with storage_errors():
            self.stats.statements += 1
            await store.write_mark(self.storage, msg.user_id, msg.content_id, marked)
        # Later than every update taken so far (the intake was drained on receipt).
        marked.seq = self.intake.next_seq()
        self.entries[key] = marked
        self.dirty.discard(key)
        self.stats.unflushed = len(self.dirty) + self.writing
        for sid in self.by_user.get(msg.user_id, ()):
            session = self.sessions[sid]
            if session.key.content_id == msg.content_id:
                session.key = attrs.evolve(session.key, played=msg.played)
                self.intake.sessions[sid] = session.key
        self._changed(msg.user_id, msg.content_id, marked, "", msg.origin)
        return Marked(msg.content_id, msg.played, 0)

    def _watching(self, row: dict[str, Any]) -> Watching:
        decision = self.rules.evaluate(int(row["position_ms"]), int(row["duration_ms"]))
        return Watching(row["content_id"], decision.position_ms, decision.progress, int(row["updated_at"]))



def _next_up(row: dict[str, Any]) -> NextUp:
    return NextUp(row["series_id"], row["next_id"], int(row["watched_at"]))
