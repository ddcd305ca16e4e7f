"""The playback domain's methods (see docs/API.md): playback.start, .position, .stop,
.resume and .continue_watching. They need the catalog too (an item's duration, the
items of a listing): `Needs` is what the application gives them.

`playback.position` is the hot path: see `PlaybackDomain.report_position`.
"""

from __future__ import annotations

import attrs
import trio

from actors.catalog import CatalogDomain
from actors.errors import NotFound
from actors.playback import PlaybackDomain
from actors.playback.model import ResumeState
from actors.timefmt import iso_utc
from protocol import errors
from protocol.api.catalog import CONTENT_ITEM, EXAMPLE_ITEMS
from protocol.calls import Call
from protocol.methods import Access, Example, method
from protocol.paging import PAGE_INFO_SCHEMA, PAGING_SCHEMA

OK = {"ok": True}


@attrs.frozen
class Needs:
    playback: PlaybackDomain
    catalog: CatalogDomain


def _resume(state: ResumeState) -> dict[str, object]:
    return {"position_ms": state.position_ms, "offer_resume": state.offer_resume}


async def start(call: Call[Needs]) -> dict[str, object]:
    item = await call.domain.catalog.item(call.params["content_id"])
    started = await call.domain.playback.start_session(call.user.sub, item, call.params.get("device_id") or "")
    return {"session_id": started.session_id, "resume": _resume(started.resume)}


async def position(call: Call[Needs]) -> dict[str, object]:
    await call.domain.playback.report_position(call.user.sub, call.params["session_id"], call.params["position_ms"])
    return OK


async def stop(call: Call[Needs]) -> dict[str, object]:
    stopped = await call.domain.playback.stop_session(call.user.sub, call.params["session_id"],
                                                      call.params.get("position_ms"))
    return {"position_ms": stopped.position_ms, "completed": stopped.completed}


async def resume(call: Call[Needs]) -> dict[str, object]:
    item = await call.domain.catalog.item(call.params["content_id"])
    state = await call.domain.playback.resume_state(call.user.sub, item)
    return {"content_id": item.id, "position_ms": state.position_ms, "offer_resume": state.offer_resume,
            "completed": state.completed, "updated_at": iso_utc(state.updated_at)}


async def continue_watching(call: Call[Needs]) -> dict[str, object]:
    user = call.user.sub
    listing = call.listing(f"playback.continue_watching:{user}")
    found = await call.domain.playback.continue_watching(user, listing.page)
    rows = found.items
    catalog = call.domain.catalog
    items: list[dict[str, object] | None] = [None] * len(rows)

    async def fill(i: int, content_id: str) -> None:
        try:
            items[i] = (await catalog.item(content_id)).to_dict()
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


_SESSION_ID = {"type": "string", "minLength": 1, "maxLength": 128}
_POSITION_MS = {"type": "integer", "minimum": 0, "description": "milliseconds from the start, 0..duration"}
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
               "updated_at": _TIMESTAMP},
               "required": ["content_id", "position_ms", "offer_resume", "completed", "updated_at"]},
           errors=[errors.NOT_FOUND, errors.TIMED_OUT],
           examples=[Example("resume", {"content_id": "m-matrix"},
                             {"content_id": "m-matrix", "position_ms": 660_000, "offer_resume": True,
                              "completed": False, "updated_at": "2026-12-04T16:11:00Z"})]),
    method("playback.continue_watching", continue_watching, access=Access.USER,
           summary="Items the caller can resume, most recent first (finished items left out)",
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
]
