"""search.* over a real socket: typo correction, accents, autocomplete cache, facets,
paging, index updates, learned corrections, and a second node following the first."""

from __future__ import annotations

import pytest
import trio

from actors.catalog.messages import Upsert
from actors.catalog.model import ContentItem
from protocol import errors
from gateway.app import App
from tests.auth_helpers import admin_token, user_token
from mgclient import RpcError as RpcClientError
from tests.conftest import make_config
from tests.support import connect, http_get

CATALOG = [
    ContentItem(id="m1", title="The Matrix", type="movie", year=1999, genres=("Sci-Fi", "Action"),
                platforms=("Netflix",), rating=8.7, popularity=900.0, duration_ms=8_160_000),
    ContentItem(id="m2", title="The Matrix Reloaded", type="movie", year=2003, genres=("Sci-Fi", "Action"),
                platforms=("Netflix", "Max"), rating=7.2, popularity=400.0, duration_ms=8_280_000),
    ContentItem(id="m3", title="Amélie", type="movie", year=2001, genres=("Comedy", "Romance"),
                platforms=("Prime",), rating=8.3, popularity=500.0, duration_ms=7_320_000),
    ContentItem(id="m4", title="Heat", type="movie", year=1995, genres=("Crime", "Drama"),
                platforms=("Max",), rating=8.3, popularity=300.0, duration_ms=10_200_000),
    ContentItem(id="m5", title="The Godfather", type="movie", year=1972, genres=("Crime", "Drama"),
                platforms=("Prime", "Max"), rating=9.2, popularity=950.0, duration_ms=10_500_000),
]


async def seed(app: App, items=CATALOG) -> None:  # type: ignore[no-untyped-def]
    await app.registry.lookup("catalog").ask(Upsert(tuple(items)))


async def test_typo_and_accents(gateway) -> None:
    await seed(gateway.app)
    async with connect(gateway.url) as client:
        result = await client.call("search.query", {"query": "teh matrix"})
        assert result["corrected_query"] == "the matrix"
        assert result["items"][0]["title"] == "The Matrix"
        assert (await client.call("search.query", {"query": "amelie"}))["items"][0]["id"] == "m3"
        exact = await client.call("search.query", {"query": "heat"})
        assert exact["corrected_query"] is None and [i["id"] for i in exact["items"]] == ["m4"]
        nothing = await client.call("search.query", {"query": "zzzzqqq"})
        assert nothing["items"] == [] and nothing["total"] == 0


async def test_facets_and_filters(gateway) -> None:
    await seed(gateway.app)
    async with connect(gateway.url) as client:
        result = await client.call("search.query", {"query": "", "filters": {"genres": ["Crime"]},
                                                    "include_facets": True})
        assert {i["id"] for i in result["items"]} == {"m4", "m5"}
        facets = result["facets"]
        # genre counts ignore the genre filter itself; platforms honour it
        assert {f["value"]: f["count"] for f in facets["genres"]}["Sci-Fi"] == 2
        assert {f["value"]: f["count"] for f in facets["platforms"]} == {"Max": 2, "Prime": 1}
        assert facets["year_range"] == {"min": 1972, "max": 1995}
        with pytest.raises(RpcClientError) as info:
            await client.call("search.query", {"query": "x", "filters": {"colour": "red"}})
        assert info.value.code == errors.INVALID_PARAMS


async def test_paging_both_kinds_without_duplicates(gateway) -> None:
    await seed(gateway.app)
    async with connect(gateway.url) as client:
        first = await client.call("search.query", {"query": "", "page": 1, "page_size": 2})
        assert first["page_info"]["total"] == 5 and first["page_info"]["total_pages"] == 3
        by_offset = [i["id"] for p in (1, 2, 3)
                     for i in (await client.call("search.query", {"query": "", "page": p, "page_size": 2}))["items"]]
        by_cursor, cursor, cursors = [], None, []
        while True:
            params = {"query": "", "limit": 2, **({"cursor": cursor} if cursor else {})}
            page = await client.call("search.query", params)
            by_cursor += [i["id"] for i in page["items"]]
            cursor = page["page_info"]["next_cursor"]
            if cursor is None:
                break
            cursors.append(cursor)
        assert by_offset == by_cursor and len(set(by_cursor)) == 5
        # A real cursor of the query "" resumes that query only, not another one.
        assert (await client.call("search.query", {"query": "", "limit": 2, "cursor": cursors[0]}))["items"]
        with pytest.raises(RpcClientError) as info:
            await client.call("search.query", {"query": "matrix", "limit": 2, "cursor": cursors[0]})
        assert info.value.code == errors.INVALID_PARAMS
        assert info.value.data["errors"] == [{"field": "cursor", "message": "cursor belongs to another listing"}]


async def test_autocomplete_is_cached_and_invalidated(gateway) -> None:
    await seed(gateway.app)
    async with connect(gateway.url) as client:
        got = await client.call("search.autocomplete", {"q": "the ma"})
        # By popularity; two titles are too few, so a widened pass adds "Amélie" after them.
        assert [s["content_id"] for s in got["suggestions"]] == ["m1", "m2", "m3"]
        again = await client.call("search.autocomplete", {"q": "the ma"})
        assert again == got
        popular = await client.call("search.autocomplete", {"q": "", "limit": 2})
        assert [s["content_id"] for s in popular["suggestions"]] == ["m5", "m1"]
        _, metrics = await http_get(gateway.admin + "/metrics")
        assert 'mg_cache_requests_total{cache="autocomplete",result="hit"} 1.0' in metrics.decode()
        assert 'mg_cache_hit_ratio{cache="autocomplete"} 0.333' in metrics.decode()  # 1 hit in 3
        await seed(gateway.app, [ContentItem(id="m6", title="The Matrix Resurrections", type="movie",
                                             year=2021, popularity=95_000.0)])
        fresh = await client.call("search.autocomplete", {"q": "the ma"})
        assert [s["content_id"] for s in fresh["suggestions"]][0] == "m6"
        assert (await client.call("search.query", {"query": "resurrections"}))["items"][0]["id"] == "m6"
        with pytest.raises(RpcClientError) as info:
            await client.call("search.autocomplete", {"q": "x", "limit": 51})
        assert info.value.code == errors.INVALID_PARAMS


async def test_learned_corrections_need_admin_and_persist(gateway) -> None:
    await seed(gateway.app)
    correction = {"misspelled": "padrino", "corrected": "godfather"}
    async with connect(gateway.url) as client:
        with pytest.raises(RpcClientError) as info:
            await client.call("search.corrections.add", correction)
        assert info.value.code == errors.AUTH_REQUIRED
    async with connect(gateway.url, await user_token(gateway)) as user:
        with pytest.raises(RpcClientError) as info:
            await user.call("search.corrections.add", correction)
        assert info.value.code == errors.PERMISSION_DENIED
        assert (await user.call("search.query", {"query": "padrino"}))["items"] == []  # not learned
    async with connect(gateway.url, await admin_token(gateway)) as admin:
        assert await admin.call("search.corrections.add", correction) == {"ok": True}
    async with connect(gateway.url) as client:
        result = await client.call("search.query", {"query": "padrino"})
        assert result["corrected_query"] == "godfather" and result["items"][0]["id"] == "m5"
    rows = await gateway.app.services.storage.fetch("SELECT misspelled, corrected FROM spell_corrections")
    assert rows == [{"misspelled": "padrino", "corrected": "godfather"}]


async def test_a_second_node_follows_catalog_changes(nursery, tmp_path, pg_url, redis_url) -> None:
    apps = []
    for n in (1, 2):
        app = App(make_config(tmp_path / f"n{n}", database_url=pg_url, redis_url=redis_url))
        ws_port, _ = await nursery.start(app.run)
        apps.append((app, f"ws://127.0.0.1:{ws_port}/v1"))
    (first, _), (second, second_url) = apps
    await seed(first)
    async with connect(second_url) as client:
        with trio.fail_after(5):
            while not (await client.call("search.query", {"query": "godfather"}))["items"]:
                await trio.sleep(0.05)
        assert (await client.call("search.autocomplete", {"q": "godf"}))["suggestions"][0]["content_id"] == "m5"
    for app, _ in apps:
        app.request_shutdown()
