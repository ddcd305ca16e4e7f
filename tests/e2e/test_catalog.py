"""The catalog: content.get / content.list over the socket, both paging kinds, cursors."""

from __future__ import annotations

import pytest

from actors.catalog.messages import Upsert
from actors.catalog.model import ContentItem
from protocol import errors
from mgclient import RpcError as RpcClientError
from tests.support import connect


def item(n: int, **over: object) -> ContentItem:
    fields = dict(id=f"t{n:03d}", title=f"Title {n % 7} {n}", type="movie", year=1990 + n % 20,
                  genres=("Drama",), platforms=("Netflix",), rating=5.0, popularity=float(n % 11),
                  duration_ms=5_400_000)
    fields.update(over)
    return ContentItem(**fields)  # type: ignore[arg-type]


async def seed(gateway, n: int = 45) -> list[ContentItem]:
    items = [item(i) for i in range(n)]
    await gateway.app.registry.lookup("catalog").ask(Upsert(tuple(items)))
    return items


async def test_get_and_not_found(gateway) -> None:
    await seed(gateway, 3)
    async with connect(gateway.url) as client:
        got = await client.call("content.get", {"id": "t001"})
        assert got == item(1).to_dict()
        with pytest.raises(RpcClientError) as info:
            await client.call("content.get", {"id": "nope"})
        assert info.value.code == errors.NOT_FOUND


@pytest.mark.parametrize("sort", ["popularity", "title", "year"])
async def test_offset_pages_cover_everything_once_in_order(gateway, sort: str) -> None:
    items = await seed(gateway)
    key = {"popularity": lambda i: (i.popularity, i.id), "title": lambda i: (i.title, i.id),
           "year": lambda i: (i.year, i.id)}[sort]
    expected = [i.id for i in sorted(items, key=key, reverse=sort != "title")]
    seen: list[str] = []
    async with connect(gateway.url) as client:
        page = 1
        while True:
            result = await client.call("content.list", {"page": page, "page_size": 10, "sort": sort})
            seen += [i["id"] for i in result["items"]]
            info = result["page_info"]
            assert info["total"] == 45 and info["total_pages"] == 5 and info["page"] == page
            if not info["has_next_page"]:
                break
            page += 1
    assert seen == expected


@pytest.mark.parametrize("sort", ["popularity", "title", "year"])
async def test_cursor_pages_cover_everything_once_in_order(gateway, sort: str) -> None:
    items = await seed(gateway)
    seen: list[str] = []
    async with connect(gateway.url) as client:
        offset_order = [i["id"] for p in (1, 2, 3, 4, 5)
                        for i in (await client.call("content.list", {"page": p, "page_size": 10, "sort": sort}))["items"]]
        cursor = None
        while True:
            params = {"limit": 7, "sort": sort}
            if cursor:
                params["cursor"] = cursor
            result = await client.call("content.list", params)
            seen += [i["id"] for i in result["items"]]
            cursor = result["page_info"]["next_cursor"]
            assert result["page_info"]["has_next_page"] == (cursor is not None)
            if cursor is None:
                break
    assert seen == offset_order and len(set(seen)) == len(items)


async def test_bad_paging_is_invalid_params(gateway) -> None:
    await seed(gateway, 5)
    async with connect(gateway.url) as client:
        first = await client.call("content.list", {"limit": 2})
        cursor = first["page_info"]["next_cursor"]
        bad = [
            {"page": 1, "limit": 5},
            {"page": 0},
            {"page_size": 101},
            {"limit": 0},
            {"limit": 2, "cursor": cursor[:-2] + ("AA" if not cursor.endswith("AA") else "BB")},
            {"limit": 2, "cursor": "garbage"},
            {"limit": 2, "cursor": cursor, "sort": "title"},  # a cursor of another listing
            {"sort": "rating"},
        ]
        for params in bad:
            with pytest.raises(RpcClientError) as info:
                await client.call("content.list", params)
            assert info.value.code == errors.INVALID_PARAMS, params
            assert info.value.data["errors"][0]["field"]


async def test_upsert_needs_an_admin(gateway) -> None:
    async with connect(gateway.url) as client:
        with pytest.raises(RpcClientError) as info:
            await client.call("content.upsert", {"items": [item(1).to_dict()]})
        assert info.value.code == errors.AUTH_REQUIRED


async def test_a_read_after_a_write_sees_the_write(gateway) -> None:
    catalog = gateway.app.registry.lookup("catalog")
    async with connect(gateway.url) as client:
        for title in ("First", "Second", "Third"):
            await catalog.ask(Upsert((item(9, title=title),)))
            assert (await client.call("content.get", {"id": "t009"}))["title"] == title


async def test_a_page_asked_again_after_a_write_shows_the_write(gateway) -> None:
    """A page asked twice answers the same, and after a write to an item on it, the
    write (content.list reads the index directly while it holds this node's writes)."""
    await seed(gateway, 5)
    catalog = gateway.app.registry.lookup("catalog")
    params = {"page": 1, "page_size": 5, "sort": "title"}
    async with connect(gateway.url) as client:
        first = await client.call("content.list", params)
        assert await client.call("content.list", params) == first
        assert "t003" in [i["id"] for i in first["items"]]
        await catalog.ask(Upsert((item(3, title="Aaa renamed"),)))
        again = await client.call("content.list", params)
        assert again["items"][0]["id"] == "t003" and again["items"][0]["title"] == "Aaa renamed"
        assert again != first
