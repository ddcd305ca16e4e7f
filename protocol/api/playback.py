"""The playback domain's methods (see CONTRACT.md): playback.start, .position, .stop,
.resume and .continue_watching.

`playback.position` is the hot path: the handler checks the session against the
directory the playback actor publishes and drops the update into the session's slot
of the `PositionIntake` (see actors/playback/intake.py) — no actor round trip, no
database write. Only a session this node does not hold yet (after a restart, or one
started on another node) costs an ask, once.
"""

from __future__ import annotations

from typing import Any, Iterable

import attrs
import trio
from prometheus_client import Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from actors.errors import NotFound
from actors.playback.actor import PlaybackActor, PlaybackStats
from actors.playback.intake import PositionIntake
from actors.playback.messages import Adopt, ContinueWatching, GetResume, Start, Stop
from actors.playback.model import PlaybackSettings, ResumeState
from actors.timefmt import iso_utc
from protocol.api.catalog import content_item
from protocol.methods import Access, MethodTable
from protocol.paging import PAGING_SCHEMA, Listing
from runtime import ChildSpec

NAME = "playback"

# Fine around 1 s, the default interval: each row's oldest update waits about that long.
LAG_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0, 1.01, 1.02, 1.05, 1.1, 1.25, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0)
OK = {"ok": True}


@attrs.define
class _Domain:
    intake: PositionIntake
    stats: PlaybackStats
    settings: PlaybackSettings


def _settings(services: Any) -> PlaybackSettings:
    cfg = services.config
    return PlaybackSettings(flush_interval=cfg.playback_flush_interval, idle_timeout=cfg.playback_idle_timeout)


class _Collector:
    """The actor's counters at scrape time."""

    def __init__(self, domain: _Domain) -> None:
        self.domain = domain

    def collect(self) -> Iterable[Any]:
        stats, intake = self.domain.stats, self.domain.intake
        for name, doc, value in (
            ("mg_playback_updates", "Position updates accepted", intake.received),
            ("mg_playback_updates_coalesced", "Updates replaced by a newer one before the actor took them",
             intake.coalesced),
            ("mg_playback_flushes", "Batched writes of positions", stats.flushes),
            ("mg_playback_rows_written", "Position rows written by flushes", stats.rows_written),
            ("mg_playback_db_statements", "Statements the playback actor sent to storage", stats.statements),
            ("mg_playback_flush_failures", "Failed batched writes (retried)", stats.flush_failures),
        ):
            family = CounterMetricFamily(name, doc)
            family.add_metric([], value)
            yield family
        for name, doc, value in (
            ("mg_playback_unflushed", "Positions received and not yet durable",
             len(intake.pending) + stats.unflushed),
            ("mg_playback_sessions", "Open playback sessions on this node", stats.sessions),
        ):
            gauge = GaugeMetricFamily(name, doc)
            gauge.add_metric([], value)
            yield gauge


def children(services: Any) -> list[ChildSpec]:
    domain = _Domain(PositionIntake(), PlaybackStats(), _settings(services))
    services.domain_state[NAME] = domain  # for register()
    registry = services.metrics.registry
    lag = Histogram("mg_playback_durable_lag_seconds",
                    "Seconds from a position update's arrival until it is durable (oldest update per row)",
                    buckets=LAG_BUCKETS, registry=registry)
    registry.register(_Collector(domain))

    def on_flush(rows: int, waits: list[float]) -> None:
        for seconds in waits:
            lag.observe(seconds)

    def make() -> PlaybackActor:
        return PlaybackActor(services.storage, domain.intake, domain.settings, stats=domain.stats,
                             on_flush=on_flush)

    # Its stop flushes: give it the budget of a slow write or two.
    return [ChildSpec(NAME, make, shutdown_timeout=max(5.0, services.config.db_timeout * 2))]


def _resume(state: ResumeState) -> dict[str, Any]:
    return {"position_ms": state.position_ms, "offer_resume": state.offer_resume}


def register(table: MethodTable, services: Any) -> None:
    domain: _Domain = services.domain_state[NAME]
    intake = domain.intake

    def user_of(ctx: Any) -> str:
        return ctx.principal.sub

    async def start(params: dict, ctx: Any) -> dict:
        item = await content_item(services, params["content_id"])
        started = await services.actor(NAME).ask(
            Start(user_of(ctx), item.id, item.duration_ms, params.get("device_id") or ""))
        return {"session_id": started.session_id, "resume": _resume(started.resume)}

    async def position(params: dict, ctx: Any) -> dict:
        user = user_of(ctx)
        session_id = params["session_id"]
        key = intake.lookup(session_id, user)
        if key is None:
            # Not held here yet: take it over once; a full mailbox is -32006 at once.
            key = await services.actor(NAME).ask(Adopt(session_id, user), wait=False)
        intake.offer(key, params["position_ms"])
        return OK

    async def stop(params: dict, ctx: Any) -> dict:
        stopped = await services.actor(NAME).ask(
            Stop(user_of(ctx), params["session_id"], params.get("position_ms")))
        return {"position_ms": stopped.position_ms, "completed": stopped.completed}

    async def resume(params: dict, ctx: Any) -> dict:
        item = await content_item(services, params["content_id"])
        state = await services.actor(NAME).ask(GetResume(user_of(ctx), item.id, item.duration_ms))
        return {"content_id": item.id, "position_ms": state.position_ms, "offer_resume": state.offer_resume,
                "completed": state.completed, "updated_at": iso_utc(state.updated_at)}

    async def continue_watching(params: dict, ctx: Any) -> dict:
        user = user_of(ctx)
        listing = Listing(params, services.cursors, f"playback.continue_watching:{user}")
        found = await services.actor(NAME).ask(ContinueWatching(user, listing.page))
        rows = found.items
        items: list[dict | None] = [None] * len(rows)

        async def fill(i: int, content_id: str) -> None:
            try:
                items[i] = (await content_item(services, content_id)).to_dict()
            except NotFound:
                pass  # removed from the catalog since: left out

        async with trio.open_nursery() as nursery:
            for i, row in enumerate(rows):
                nursery.start_soon(fill, i, row.content_id)
        return {
            "items": [{"content": item, "position_ms": row.position_ms, "progress": row.progress,
                       "updated_at": iso_utc(row.updated_at)}
                      for row, item in zip(rows, items) if item is not None],
            "page_info": listing.info(found),
        }

    session_id = {"type": "string", "minLength": 1, "maxLength": 128}
    position_ms = {"type": "integer", "minimum": 0, "description": "milliseconds from the start, 0..duration"}
    content_id = {"type": "string", "minLength": 1, "maxLength": 128}
    resume_schema = {"type": "object", "properties": {"position_ms": {"type": "integer"},
                                                      "offer_resume": {"type": "boolean"}}}
    timestamp = {"type": ["string", "null"], "format": "date-time"}

    table.add("playback.start", start, access=Access.USER,
              summary="Open a playback session; says where to resume (latest position across devices)",
              params={"type": "object", "properties": {
                  "content_id": content_id, "device_id": {"type": "string", "maxLength": 128}},
                  "required": ["content_id"], "additionalProperties": False},
              result={"type": "object", "properties": {"session_id": {"type": "string"}, "resume": resume_schema}})
    # Inline: the reader of the connection runs it (no task per update). It waits only
    # when the session must first be taken over from storage, once per session and node.
    table.add("playback.position", position, access=Access.USER, inline=True,
              summary="Report the position of a session; usually a notification. Written behind, "
                      "within the flush interval",
              params={"type": "object", "properties": {"session_id": session_id, "position_ms": position_ms},
                      "required": ["session_id", "position_ms"], "additionalProperties": False},
              result={"type": "object", "properties": {"ok": {"const": True}}})
    table.add("playback.stop", stop, access=Access.USER,
              summary="End a session, optionally at a last position; the answer is where the next start "
                      "resumes (0 when no resume is offered) and whether the item counts as finished",
              params={"type": "object", "properties": {"session_id": session_id, "position_ms": position_ms},
                      "required": ["session_id"], "additionalProperties": False},
              result={"type": "object", "properties": {"position_ms": {"type": "integer"},
                                                        "completed": {"type": "boolean"}}})
    table.add("playback.resume", resume, access=Access.USER,
              summary="Where the caller would resume an item",
              params={"type": "object", "properties": {"content_id": content_id},
                      "required": ["content_id"], "additionalProperties": False},
              result={"type": "object", "properties": {
                  "content_id": {"type": "string"}, "position_ms": {"type": "integer"},
                  "offer_resume": {"type": "boolean"}, "completed": {"type": "boolean"},
                  "updated_at": timestamp}})
    table.add("playback.continue_watching", continue_watching, access=Access.USER,
              summary="Items the caller can resume, most recent first (finished items left out)",
              params={"type": "object", "properties": dict(PAGING_SCHEMA), "additionalProperties": False},
              result={"type": "object", "properties": {
                  "items": {"type": "array", "items": {"type": "object", "properties": {
                      "content": {"type": "object"}, "position_ms": {"type": "integer"},
                      "progress": {"type": "number"}, "updated_at": timestamp}}},
                  "page_info": {"type": "object"}}})
