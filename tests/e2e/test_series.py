"""Series over real sockets: content.episodes, Next Up, Continue Watching per series, and
the checks on series links (SQLite; tests/storage runs the links on PostgreSQL too)."""

from __future__ import annotations

from typing import Any

from protocol import errors
from tests.auth_helpers import new_user
from tests.e2e.playback_helpers import EPISODE, MIN, as_params, catalog, episode, movie, rpc_error, series, watch
from tests.support import connect

DONE = EPISODE - 10_000  # within the last 10 %: finished
HALF = EPISODE // 2


async def seeded(gateway: Any) -> dict[str, Any]:
    admin = await new_user(gateway, admin=True)
    async with connect(gateway.url, admin["access_token"]) as client:
        await client.call("content.upsert", as_params(catalog()))
    return admin


async def test_episodes_in_season_and_episode_order(gateway: Any) -> None:
    await seeded(gateway)
    async with connect(gateway.url) as client:
        page = await client.call("content.episodes", {"series_id": "sa", "page": 1, "page_size": 4})
        assert [i["id"] for i in page["items"]] == ["sae101", "sae102", "sae103", "sae201"]
        assert page["page_info"] == {"page": 1, "page_size": 4, "total": 6, "total_pages": 2, "has_next_page": True}
        first = page["items"][0]
        assert (first["series_id"], first["season"], first["episode"]) == ("sa", 1, 1)
        seen: list[str] = []
        params: dict[str, Any] = {"series_id": "sa", "limit": 4}
        while True:
            page = await client.call("content.episodes", params)
            seen += [i["id"] for i in page["items"]]
            if not page["page_info"]["has_next_page"]:
                break
            params["cursor"] = page["page_info"]["next_cursor"]
        assert seen == ["sae101", "sae102", "sae103", "sae201", "sae202", "sae203"]
        assert (await client.call("content.get", {"id": "sae203"}))["season"] == 2
        assert "series_id" not in await client.call("content.get", {"id": "m1"})
        assert (await rpc_error(client, "content.episodes", {"series_id": "nope"})).code == errors.NOT_FOUND
        err = await rpc_error(client, "content.episodes", {"series_id": "m1"})
        assert err.code == errors.INVALID_PARAMS and err.data["errors"][0]["field"] == "series_id"
        err = await rpc_error(client, "content.episodes", {"series_id": "sb", "limit": 2, "cursor": params["cursor"]})
        assert err.code == errors.INVALID_PARAMS  # a cursor of another series' listing
        err = await rpc_error(client, "content.episodes", {})
        assert err.code == errors.INVALID_PARAMS and err.data["errors"][0]["field"] == "series_id"


async def test_series_links_are_checked(gateway: Any) -> None:
    admin = await seeded(gateway)
    async with connect(gateway.url, admin["access_token"]) as client:
        async def refused(items: list[dict[str, Any]]) -> list[dict[str, str]]:
            err = await rpc_error(client, "content.upsert", {"items": items})
            assert err.code == errors.INVALID_PARAMS
            return err.data["errors"]

        orphan = episode("nope", 1, 1).to_dict()
        assert await refused([movie("m9").to_dict(), orphan]) == [
            {"field": "items[1].series_id", "message": "no series 'nope'"}]
        not_a_series = {**episode("sa", 3, 1).to_dict(), "series_id": "m1"}
        assert (await refused([not_a_series]))[0]["field"] == "items[0].series_id"
        assert (await refused([movie("sa").to_dict()]))[0]["field"] == "items[0].type"
        for bad, field in (({"season": 0}, "season"), ({"episode": 2**31}, "episode"), ({"season": None}, "season"),
                           ({"season": 1.5}, "season"), ({"series_id": ""}, "series_id")):
            errors_ = await refused([{**episode("sa", 3, 1).to_dict(), **bad}])
            assert errors_[0]["field"] == f"items[0].{field}", errors_
        assert (await refused([{**movie("m9").to_dict(), "season": 1}]))[0]["field"] == "items[0].season"
        # A series and its episodes in one write; an episode moved to another series; a
        # series whose episodes all moved away may change its type.
        new = [episode("sc", 1, 1).to_dict(), series("sc", "Gamma").to_dict()]
        assert await client.call("content.upsert", {"items": new}) == {"upserted": 2}
        moved = [{**episode("sb", 1, n).to_dict(), "series_id": "sc", "season": 2} for n in (1, 2)]
        assert await client.call("content.upsert", {"items": [*moved, movie("sb").to_dict()]}) == {"upserted": 3}
        page = await client.call("content.episodes", {"series_id": "sc"})
        assert [(i["season"], i["episode"]) for i in page["items"]] == [(1, 1), (2, 1), (2, 2)]


async def test_next_up_and_continue_watching_per_series(gateway: Any) -> None:
    await seeded(gateway)
    user, other = await new_user(gateway), await new_user(gateway)
    async with connect(gateway.url, user["access_token"]) as client:
        assert (await client.call("playback.next_up"))["items"] == []
        await watch(client, "sae101", DONE)
        await watch(client, "sbe101", DONE)
        up = await client.call("playback.next_up")
        assert [(i["series"]["id"], i["content"]["id"]) for i in up["items"]] == [("sb", "sbe102"), ("sa", "sae102")]
        assert up["page_info"]["total"] == 2
        # Next Up moves on when an episode completes; most recently watched series first.
        await watch(client, "sae102", DONE)
        up = await client.call("playback.next_up", {"limit": 1})
        assert up["items"][0]["content"]["id"] == "sae103" and up["page_info"]["has_next_page"]
        rest = await client.call("playback.next_up", {"limit": 1, "cursor": up["page_info"]["next_cursor"]})
        assert rest["items"][0]["content"]["id"] == "sbe102" and rest["page_info"]["next_cursor"] is None
        await watch(client, "sae103", DONE)  # season 1 over: season 2 next
        up = await client.call("playback.next_up", {"page": 1, "page_size": 1})
        assert up["items"][0]["content"]["id"] == "sae201" and up["page_info"]["total_pages"] == 2

        # Continue watching: one entry per series, the episode in progress, beside movies.
        await watch(client, "sae201", HALF)
        await watch(client, "m1", 60 * MIN)
        await watch(client, "sae202", HALF)  # the series' newest activity: shown instead of sae201
        listed = await client.call("playback.continue_watching")
        assert [i["content"]["id"] for i in listed["items"]] == ["sae202", "m1"]
        assert listed["page_info"]["total"] == 2
        by_cursor = await client.call("playback.continue_watching", {"limit": 1})
        more = await client.call("playback.continue_watching", {"limit": 1,
                                                                "cursor": by_cursor["page_info"]["next_cursor"]})
        assert [by_cursor["items"][0]["content"]["id"], more["items"][0]["content"]["id"]] == ["sae202", "m1"]
        await watch(client, "sae202", DONE)  # finished: the series leaves continue watching
        assert [i["content"]["id"] for i in (await client.call("playback.continue_watching"))["items"]] == ["m1"]
        assert (await client.call("playback.next_up"))["items"][0]["content"]["id"] == "sae203"

        # Rewatching: with every episode after the last finished one played, only
        # rewatching=true names the next one.
        await client.call("playback.mark_played", {"content_id": "sae203", "played": True})
        await watch(client, "sae101", DONE)
        ids = [i["content"]["id"] for i in (await client.call("playback.next_up"))["items"]]
        assert "sae102" not in ids and "sbe102" in ids
        ids = [i["content"]["id"] for i in (await client.call("playback.next_up", {"rewatching": True}))["items"]]
        assert ids[0] == "sae102"
    async with connect(gateway.url, other["access_token"]) as stranger:
        assert (await stranger.call("playback.next_up"))["items"] == []
        assert (await stranger.call("playback.continue_watching"))["items"] == []


async def test_played_state_over_the_wire(gateway: Any) -> None:
    await seeded(gateway)
    user = await new_user(gateway)
    async with connect(gateway.url, user["access_token"]) as client:
        async def resume(content_id: str) -> tuple[int, bool, bool, bool]:
            r = await client.call("playback.resume", {"content_id": content_id})
            return r["position_ms"], r["offer_resume"], r["completed"], r["played"]

        assert await client.call("playback.mark_played", {"content_id": "m1", "played": True}) == \
            {"content_id": "m1", "played": True, "position_ms": 0}
        assert await resume("m1") == (0, False, True, True)
        await watch(client, "m1", 30 * MIN)  # a replay keeps it played
        assert await resume("m1") == (30 * MIN, True, False, True)
        assert (await client.call("playback.start", {"content_id": "m1"}))["resume"]["position_ms"] == 30 * MIN
        await client.call("playback.mark_played", {"content_id": "m1", "played": False})
        assert await resume("m1") == (0, False, False, False)
        await watch(client, "m1", 119 * MIN + 30_000)
        assert await resume("m1") == (0, False, True, True)
