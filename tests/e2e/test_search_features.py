"""search.* and content.list over real sockets: corrections and highlights in answers,
synonyms set by an admin, stored, applied in query and autocomplete and spread to a
second node; content.list served from the index's copy, fresh right after an upsert."""

from __future__ import annotations

import pytest
import trio

from actors.catalog.model import ContentItem
from actors.search.messages import Synonym
from gateway.app import App
from mgclient import RpcError as RpcClientError
from protocol import errors
from tests.auth_helpers import admin_token, user_token
from tests.conftest import make_config
from tests.e2e.test_search import seed as seed_items
from tests.support import connect

CATALOG = [
    ContentItem(id="m1", title="The Lord of the Rings", type="movie", year=2001, popularity=900.0),
    ContentItem(id="m2", title="The Godfather Part II", type="movie", year=1974, popularity=700.0),
    ContentItem(id="m3", title="Pulp Fiction", type="movie", year=1994, popularity=800.0),
    ContentItem(id="m4", title="Science Fiction Double", type="movie", year=1980, popularity=10.0),
    ContentItem(id="m5", title="Amélie", type="movie", year=2001, popularity=500.0),
]


async def seed(app: App) -> None:
    await seed_items(app, CATALOG)


async def test_answers_say_what_was_corrected_and_what_matched(gateway) -> None:
    await seed(gateway.app)
    async with connect(gateway.url) as client:
        got = await client.call("search.query", {"query": "pulp fictoin"})
        assert [i["id"] for i in got["items"]] == ["m3"]
        assert got["corrected_query"] == "pulp fiction"
        assert got["corrections"] == [{"from": "fictoin", "to": "fiction"}]
        assert got["items"][0]["highlights"] == [{"start": 0, "end": 4}, {"start": 5, "end": 12}]
        typing = await client.call("search.query", {"query": "pulp f"})
        assert typing["items"][0]["id"] == "m3" and typing["corrections"] == []
        assert typing["items"][0]["highlights"] == [{"start": 0, "end": 4}, {"start": 5, "end": 6}]
        numeral = await client.call("search.query", {"query": "godfather part 2"})
        assert [i["id"] for i in numeral["items"]] == ["m2"] and numeral["corrected_query"] is None
        accent = await client.call("search.autocomplete", {"q": "ame"})
        assert accent["suggestions"][0]["content_id"] == "m5"
        assert accent["suggestions"][0]["highlights"] == [{"start": 0, "end": 3}]
        typed = await client.call("search.autocomplete", {"q": "pulp fictoin "})
        assert [s["content_id"] for s in typed["suggestions"]] == ["m3"]
        assert typed["corrections"] == [{"from": "fictoin", "to": "fiction"}]
        assert typed["corrected_query"] == "pulp fiction"
        assert await client.call("search.autocomplete", {"q": "pulp fictoin "}) == typed  # cached whole


async def test_synonyms_need_an_admin_are_stored_and_apply(gateway) -> None:
    await seed(gateway.app)
    groups = {"synonyms": [{"words": ["lotr", "lord of the rings"], "one_way": True},
                           {"words": ["scifi", "science fiction"]}]}
    user = await user_token(gateway)
    async with connect(gateway.url, user) as client:
        with pytest.raises(RpcClientError) as info:
            await client.call("search.synonyms.set", groups)
        assert info.value.code == errors.PERMISSION_DENIED
    admin = await admin_token(gateway)
    async with connect(gateway.url, admin) as client:
        for bad in ({"synonyms": [{"words": ["only one"]}]},
                    {"synonyms": [{"words": ["a", "..."]}]},
                    {"synonyms": [{"words": ["a", "b"], "colour": 1}]}):
            with pytest.raises(RpcClientError) as info:
                await client.call("search.synonyms.set", bad)
            assert info.value.code == errors.INVALID_PARAMS, bad
        assert await client.call("search.synonyms.set", groups) == {"ok": True}
        lotr = await client.call("search.query", {"query": "lotr"})
        assert [i["id"] for i in lotr["items"]] == ["m1"] and lotr["corrected_query"] is None
        assert [s["content_id"] for s in (await client.call("search.autocomplete", {"q": "lotr"}))["suggestions"]] == ["m1"]
        # Multi-way: each phrase finds the other's titles; one-way: not back.
        assert "m4" in [i["id"] for i in (await client.call("search.query", {"query": "scifi"}))["items"]]
        assert (await client.call("search.query", {"query": "lord of the rings "}))["total"] == 1
    rows = await gateway.app.services.storage.fetch("SELECT phrases, one_way FROM search_synonyms ORDER BY position")
    assert rows == [{"phrases": '["lotr","lord of the rings"]', "one_way": 1},
                    {"phrases": '["scifi","science fiction"]', "one_way": 0}]
    async with connect(gateway.url, admin) as client:
        assert await client.call("search.synonyms.set", {"synonyms": []}) == {"ok": True}
        assert (await client.call("search.query", {"query": "lotr "}))["total"] == 0
    assert await gateway.app.services.storage.fetch("SELECT * FROM search_synonyms") == []


async def test_content_list_reads_the_index_and_sees_an_upsert_at_once(gateway) -> None:
    await seed(gateway.app)
    admin = await admin_token(gateway)
    async with connect(gateway.url, admin) as client:
        first = await client.call("content.list", {"page": 1, "page_size": 2})
        assert [i["id"] for i in first["items"]] == ["m1", "m3"] and first["page_info"]["total"] == 5
        newer = ContentItem(id="m9", title="Zodiac", type="movie", year=2007, popularity=5000.0)
        await client.call("content.upsert", {"items": [newer.to_dict()]})
        assert [i["id"] for i in (await client.call("content.list", {"limit": 1}))["items"]] == ["m9"]
        by_title = await client.call("content.list", {"limit": 2, "sort": "title"})
        assert [i["title"] for i in by_title["items"]] == ["Amélie", "Pulp Fiction"]
        rest = await client.call("content.list", {"limit": 10, "sort": "title",
                                                  "cursor": by_title["page_info"]["next_cursor"]})
        assert [i["id"] for i in rest["items"]] == ["m4", "m2", "m1", "m9"]
        assert rest["page_info"] == {"has_next_page": False, "next_cursor": None}
        # Served from memory: rows removed behind the gateway's back are still listed.
        await gateway.app.services.storage.execute("DELETE FROM content")
        again = await client.call("content.list", {"page": 1, "page_size": 10})
        assert len(again["items"]) == 6 and again["page_info"]["total"] == 6


async def test_synonyms_spread_to_a_second_node(nursery, tmp_path, pg_url, redis_url) -> None:
    apps = []
    for n in (1, 2):
        app = App(make_config(tmp_path / f"n{n}", database_url=pg_url, redis_url=redis_url))
        ws_port, _ = await nursery.start(app.run)
        apps.append((app, f"ws://127.0.0.1:{ws_port}/v1"))
    (first, _), (second, second_url) = apps
    await seed(first)
    await first.domains.search.set_synonyms([Synonym(("lotr", "lord of the rings"), True)])
    async with connect(second_url) as client:
        with trio.fail_after(5):
            while not (await client.call("search.query", {"query": "lotr"}))["items"]:
                await trio.sleep(0.05)
        assert (await client.call("search.query", {"query": "lotr"}))["items"][0]["id"] == "m1"
    for app, _ in apps:
        app.request_shutdown()
