"""The playback domain's methods (see docs/API.md): playback.start, .position, .stop,
.resume, .continue_watching, .next_up, .mark_played, .subscribe and .unsubscribe. They
need the catalog too (an item's duration, the items of a listing) and the node's push
hub (protocol/push.py) for subscriptions: `Needs` is what the application gives them.

`playback.position` is the hot path: see `PlaybackDomain.report_position`.
Subscriptions: `playback.subscribe` answers `{subscription}`; the connection then gets
`playback.changed {subscription, content_id, position_ms, completed, played, device_id,
updated_at}` whenever another connection of the same user, on any node, reports a
position, stops, or marks an item played or unplayed (`ChangesToPush` carries them from
actors/playback/sync.py to the hub).
"""

from __future__ import annotations

import attrs
import trio

from actors.catalog import CatalogDomain
from actors.catalog.model import DURATION_MAX, ContentItem
from actors.errors import NotFound
from actors.playback import PlaybackDomain
from actors.playback.model import ResumeState
from actors.playback.sync import Change
from actors.timefmt import iso_utc
from protocol import errors
from protocol.api.catalog import CONTENT_ITEM, EXAMPLE_ITEMS
from protocol.calls import Call
from protocol.methods import Access, Example, Notification, method
from protocol.paging import PAGE_INFO_SCHEMA, PAGING_SCHEMA
from protocol.push import PushHub, Subscriber

OK: dict[str, object] = {"ok": True}
CHANGED = "playback.changed"


@attrs.frozen
class Needs:
    playback: PlaybackDomain
    catalog: CatalogDomain
    push: PushHub


def push_hub(playback: PlaybackDomain) -> PushHub:
    """The node's hub for `playback.changed`, listening to the domain's changes."""
    hub = PushHub(CHANGED, playback.origin)
    playback.sync.state.listener = ChangesToPush(hub)
    return hub


class ChangesToPush:
    """Hands the playback domain's changes to the push hub as `playback.changed` params."""

    def __init__(self, hub: PushHub) -> None:
        self.hub = hub

    def wants(self, user_id: str) -> bool:
        return self.hub.wants(user_id)

    def deliver(self, change: Change) -> None:
        self.hub.push(change.user_id, change.content_id, change.origin, {
            "content_id": change.content_id, "position_ms": change.position_ms, "completed": change.completed,
            "played": change.played, "device_id": change.device_id, "updated_at": iso_utc(change.updated_at)})


def _origin(call: Call[Needs]) -> str:
    return call.domain.playback.origin(call.caller.id)


def _resume(state: ResumeState) -> dict[str, object]:
    return {"position_ms": state.position_ms, "offer_resume": state.offer_resume}


async def start(call: Call[Needs]) -> dict[str, object]:
    item = await call.domain.catalog.item(call.params["content_id"])
    started = await call.domain.playback.start_session(call.user.sub, item, call.params.get("device_id") or "")
    return {"session_id": started.session_id, "resume": _resume(started.resume)}


async def position(call: Call[Needs]) -> dict[str, object]:
    await call.domain.playback.report_position(call.user.sub, call.params["session_id"], call.params["position_ms"],
                                               _origin(call))
    return OK


async def stop(call: Call[Needs]) -> dict[str, object]:
    stopped = await call.domain.playback.stop_session(call.user.sub, call.params["session_id"],
                                                      call.params.get("position_ms"), _origin(call))
    return {"position_ms": stopped.position_ms, "completed": stopped.completed}


async def mark_played(call: Call[Needs]) -> dict[str, object]:
    item = await call.domain.catalog.item(call.params["content_id"])
    marked = await call.domain.playback.mark_played(call.user.sub, item, call.params["played"], _origin(call))
    return {"content_id": marked.content_id, "played": marked.played, "position_ms": marked.position_ms}


async def subscribe(call: Call[Needs]) -> dict[str, object]:
    # Inline and without a wait: the answer is queued on the connection before the
    # pump can send anything for the subscription (see protocol/push.py).
    conn: Subscriber = call.caller  # type: ignore[assignment]
    hub = call.domain.push
    sub_id = hub.subscribe(conn, call.user.sub)
    hub.activate(conn, sub_id)
    return {"subscription": sub_id}


async def unsubscribe(call: Call[Needs]) -> dict[str, object]:
    conn: Subscriber = call.caller  # type: ignore[assignment]
    if not call.domain.push.unsubscribe(conn, call.params["subscription"]):
        raise NotFound("subscription not found")
    return OK


async def _items(catalog: CatalogDomain, ids: list[str]) -> list[ContentItem | None]:
    """The catalog items of `ids`, in parallel; None for one removed since."""
    items: list[ContentItem | None] = [None] * len(ids)

    async def fill(i: int, content_id: str) -> None:
        try:
            items[i] = await catalog.item(content_id)
        except NotFound:
            pass

    async with trio.open_nursery() as nursery:
        for i, content_id in enumerate(ids):
            nursery.start_soon(fill, i, content_id)
    return items


async def next_up(call: Call[Needs]) -> dict[str, object]:
    user = call.user.sub
    rewatching = call.params.get("rewatching", False)
    listing = call.listing(f"playback.next_up:{user}:{int(rewatching)}")
    found = await call.domain.playback.next_up(user, listing.page, rewatching)
    rows = found.items
    fetched = await _items(call.domain.catalog, [r.content_id for r in rows] + [r.series_id for r in rows])
    episodes, series = fetched[:len(rows)], fetched[len(rows):]
    return {
        "items": [{"content": e.to_dict(), "series": s.to_dict()}
                  for e, s in zip(episodes, series) if e is not None and s is not None],
        "page_info": listing.info(found),
    }


async def resume(call: Call[Needs]) -> dict[str, object]:
    item = await call.domain.catalog.item(call.params["content_id"])
    state = await call.domain.playback.resume_state(call.user.sub, item)
    return {"content_id": item.id, "position_ms": state.position_ms, "offer_resume": state.offer_resume,
            "completed": state.completed, "played": state.played, "updated_at": iso_utc(state.updated_at)}


async def continue_watching(call: Call[Needs]) -> dict[str, object]:
    user = call.user.sub
    listing = call.listing(f"playback.continue_watching:{user}")
    found = await call.domain.playback.continue_watching(user, listing.page)
    rows = found.items
    items = await _items(call.domain.catalog, [row.content_id for row in rows])
    return {
        # An item removed from the catalog since is left out.
        "items": [{"content": item.to_dict(), "position_ms": row.position_ms, "progress": row.progress,
                   "updated_at": iso_utc(row.updated_at)}
                  for row, item in zip(rows, items) if item is not None],
        "page_info": listing.info(found),
    }


_SESSION_ID = {"type": "string", "minLength": 1, "maxLength": 128}
_POSITION_MS = {"type": "integer", "minimum": 0, "maximum": DURATION_MAX,
                "description": "milliseconds from the start, 0..duration"}
_CONTENT_ID = {"type": "string", "minLength": 1, "maxLength": 128}
_RESUME = {"title": "ResumePoint", "type": "object", "properties": {
    "position_ms": {"type": "integer"}, "offer_resume": {"type": "boolean"}}, "required": ["position_ms", "offer_resume"]}
_TIMESTAMP = {"type": ["string", "null"], "format": "date-time"}
_SESSION = "ps_9c1f5b2e7a"

METHODS = [
    method("playback.start", start, access=Access.USER,
           summary="Open a playback session; says where to resume (latest position across devices)",
           params={"type": "object", "properties": {
               "content_id": _CONTENT_ID, "device_id": {"type": "string", "maxLength": 128}},
               "required": ["content_id"], "additionalProperties": False},
           result={"type": "object", "properties": {"session_id": {"type": "string"}, "resume": _RESUME},
                   "required": ["session_id", "resume"]},
           errors=[errors.NOT_FOUND, errors.TIMED_OUT],
           examples=[Example("start", {"content_id": "m-matrix", "device_id": "tv-livingroom"},
                             {"session_id": _SESSION, "resume": {"position_ms": 0, "offer_resume": False}})]),
    # Inline: the reader of the connection runs it (no task per update). It waits only
    # when the session must first be taken over from storage, once per session and node.
    method("playback.position", position, access=Access.USER, inline=True,
           summary="Report the position of a session; usually a notification. Written behind, "
                   "within the flush interval",
           params={"type": "object", "properties": {"session_id": _SESSION_ID, "position_ms": _POSITION_MS},
                   "required": ["session_id", "position_ms"], "additionalProperties": False},
           result={"type": "object", "properties": {"ok": {"const": True}}, "required": ["ok"]},
           errors=[errors.NOT_FOUND],
           examples=[Example("ten minutes in", {"session_id": _SESSION, "position_ms": 600_000}, {"ok": True})]),
    method("playback.stop", stop, access=Access.USER,
           summary="End a session, optionally at a last position; the answer is where the next start "
                   "resumes (0 when no resume is offered) and whether the item counts as finished",
           params={"type": "object", "properties": {"session_id": _SESSION_ID, "position_ms": _POSITION_MS},
                   "required": ["session_id"], "additionalProperties": False},
           result={"type": "object", "properties": {"position_ms": {"type": "integer"},
                                                     "completed": {"type": "boolean"}},
                   "required": ["position_ms", "completed"]},
           errors=[errors.NOT_FOUND, errors.TIMED_OUT],
           examples=[Example("stop", {"session_id": _SESSION, "position_ms": 660_000},
                             {"position_ms": 660_000, "completed": False})]),
    method("playback.resume", resume, access=Access.USER,
           summary="Where the caller would resume an item",
           params={"type": "object", "properties": {"content_id": _CONTENT_ID},
                   "required": ["content_id"], "additionalProperties": False},
           result={"type": "object", "properties": {
               "content_id": {"type": "string"}, "position_ms": {"type": "integer"},
               "offer_resume": {"type": "boolean"}, "completed": {"type": "boolean"},
               "played": {"type": "boolean", "description": "finished or marked played (see mark_played)"},
               "updated_at": _TIMESTAMP},
               "required": ["content_id", "position_ms", "offer_resume", "completed", "updated_at"]},
           errors=[errors.NOT_FOUND, errors.TIMED_OUT],
           examples=[Example("resume", {"content_id": "m-matrix"},
                             {"content_id": "m-matrix", "position_ms": 660_000, "offer_resume": True,
                              "completed": False, "updated_at": "2026-12-04T16:11:00Z"})]),
    method("playback.continue_watching", continue_watching, access=Access.USER,
           summary="Items the caller can resume, most recent first (finished items left out); "
                   "a series once, with its episode in progress, while its latest episode is unfinished",
           params={"type": "object", "properties": dict(PAGING_SCHEMA), "additionalProperties": False},
           result={"type": "object", "properties": {
               "items": {"type": "array", "items": {"title": "ContinueWatchingEntry", "type": "object", "properties": {
                   "content": CONTENT_ITEM, "position_ms": {"type": "integer"},
                   "progress": {"type": "number", "description": "0..1 of the duration"}, "updated_at": _TIMESTAMP},
                   "required": ["content", "position_ms", "progress", "updated_at"]}},
               "page_info": PAGE_INFO_SCHEMA},
               "required": ["items", "page_info"]},
           errors=[errors.TIMED_OUT],
           examples=[Example("recent", {"limit": 10},
                             {"items": [{"content": EXAMPLE_ITEMS[0], "position_ms": 660_000, "progress": 0.081,
                                         "updated_at": "2026-12-04T16:11:00Z"}],
                              "page_info": {"has_next_page": False, "next_cursor": None}})]),
    method("playback.next_up", next_up, access=Access.USER,
           summary="For each series the caller is watching, the episode after the last one finished "
                   "(the first unplayed one unless rewatching), most recently watched series first",
           params={"type": "object", "properties": {**PAGING_SCHEMA, "rewatching": {"type": "boolean"}},
                   "additionalProperties": False},
           result={"type": "object", "properties": {
               "items": {"type": "array", "items": {"title": "NextUpEntry", "type": "object", "properties": {
                   "content": CONTENT_ITEM, "series": CONTENT_ITEM}, "required": ["content", "series"]}},
               "page_info": PAGE_INFO_SCHEMA},
               "required": ["items", "page_info"]},
           errors=[errors.TIMED_OUT],
           examples=[Example("nothing in progress", {"limit": 10},
                             {"items": [], "page_info": {"has_next_page": False, "next_cursor": None}})]),
    method("playback.mark_played", mark_played, access=Access.USER,
           summary="Mark an item played (completed, resume point cleared) or unplayed (both cleared); "
                   "replaying keeps it played until it is finished again or marked unplayed",
           params={"type": "object", "properties": {"content_id": _CONTENT_ID, "played": {"type": "boolean"}},
                   "required": ["content_id", "played"], "additionalProperties": False},
           result={"type": "object", "properties": {
               "content_id": {"type": "string"}, "played": {"type": "boolean"}, "position_ms": {"type": "integer"}},
               "required": ["content_id", "played", "position_ms"]},
           errors=[errors.NOT_FOUND, errors.TIMED_OUT],
           examples=[Example("mark played", {"content_id": "m-amelie", "played": True},
                             {"content_id": "m-amelie", "played": True, "position_ms": 0})]),
    method("playback.subscribe", subscribe, access=Access.USER, inline=True,
           summary="Subscribe to the caller's playback changes made on their other connections (any node): "
                   "notifications playback.changed {subscription, content_id, position_ms, completed, played, "
                   "device_id, updated_at}, at most two a second per item, the latest state when behind",
           params={"type": "object", "properties": {}, "additionalProperties": False},
           result={"type": "object", "properties": {"subscription": {"type": "string"}},
                   "required": ["subscription"]},
           examples=[Example("subscribe", {}, {"subscription": "s1"})]),
    method("playback.unsubscribe", unsubscribe, access=Access.USER, inline=True,
           summary="End a subscription of this connection (-32004 for an unknown id)",
           params={"type": "object", "properties": {"subscription": {"type": "string", "minLength": 1,
                                                                       "maxLength": 128}},
                   "required": ["subscription"], "additionalProperties": False},
           result={"type": "object", "properties": {"ok": {"const": True}}, "required": ["ok"]},
           errors=[errors.NOT_FOUND],
           examples=[Example("unsubscribe", {"subscription": "s1"}, {"ok": True})]),
]

NOTIFICATIONS = [
    Notification(CHANGED, {
        "title": "PlaybackChanged", "type": "object",
        "properties": {
            "subscription": {"type": "string", "description": "the id playback.subscribe answered"},
            "content_id": {"type": "string"},
            "position_ms": {"type": "integer", "minimum": 0},
            "completed": {"type": "boolean"},
            "played": {"type": "boolean"},
            "device_id": {"type": "string", "description": "the device that made the change (empty if none given)"},
            "updated_at": {"type": "string", "format": "date-time"}},
        "required": ["subscription", "content_id", "position_ms", "completed", "played", "device_id", "updated_at"]},
        summary="A position, stop or played mark made by another connection of the same user (any node)",
        description="Sent to each subscription of playback.subscribe, never before its id was answered; at most "
                    "two a second per item and connection, the latest state when the client reads slowly; "
                    "within a second across nodes. Ends with playback.unsubscribe or the connection."),
]
