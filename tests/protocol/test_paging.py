"""The paging helper every listing method uses, with values: parsing the request, the
page_info of each kind of page, and cursors bound to their listing."""

from __future__ import annotations

import pytest

from actors.errors import InvalidParams
from actors.paging import KeysetPage, OffsetPage, Slice
from protocol.paging import CursorCodec, Listing

CURSORS = CursorCodec(b"s" * 32)


@pytest.mark.parametrize("params, page", [
    ({}, OffsetPage(1, 20)),
    ({"page": 3, "page_size": 7}, OffsetPage(3, 7)),
    ({"limit": 5}, KeysetPage(5, None)),
    ({"cursor": None}, KeysetPage(20, None)),
])
def test_the_request_becomes_the_page_an_actor_is_asked_for(params: dict, page: object) -> None:
    assert Listing(params, CURSORS, "x").page == page


@pytest.mark.parametrize("total, page, expected", [
    (0, 1, {"total": 0, "total_pages": 0, "has_next_page": False}),
    (20, 1, {"total": 20, "total_pages": 2, "has_next_page": True}),
    (20, 2, {"total": 20, "total_pages": 2, "has_next_page": False}),
    (21, 2, {"total": 21, "total_pages": 3, "has_next_page": True}),
])
def test_offset_page_info(total: int, page: int, expected: dict) -> None:
    listing = Listing({"page": page, "page_size": 10}, CURSORS, "x")
    assert listing.info(Slice([], total)) == {"page": page, "page_size": 10, **expected}


def test_a_keyset_cursor_resumes_its_own_listing_only() -> None:
    listing = Listing({"limit": 2}, CURSORS, "content.list:title")
    info = listing.info(Slice(["a", "b"], next_key=("b", "id-2")))
    assert info["has_next_page"] is True
    cursor = info["next_cursor"]
    assert Listing({"limit": 2, "cursor": cursor}, CURSORS, "content.list:title").page == KeysetPage(2, ("b", "id-2"))
    with pytest.raises(InvalidParams) as foreign:
        Listing({"cursor": cursor}, CURSORS, "content.list:year")
    assert foreign.value.errors == [{"field": "cursor", "message": "cursor belongs to another listing"}]
    with pytest.raises(InvalidParams):  # signed with another secret
        Listing({"cursor": cursor}, CursorCodec(b"t" * 32), "content.list:title")
    assert listing.info(Slice(["c"])) == {"has_next_page": False, "next_cursor": None}


def test_both_kinds_at_once_are_refused() -> None:
    with pytest.raises(InvalidParams) as both:
        Listing({"page": 1, "limit": 5}, CURSORS, "x")
    assert both.value.errors[0]["field"] == "limit"


def _junk_variants(cursor: str) -> list[str]:
    """The cursor with junk inserted, appended or swapped in: each spelling differs
    from the one the server gave, though a lenient decoder reads most as the same."""
    body, _, sig = cursor.partition(".")
    middle = len(body) // 2
    variants = [body[:middle] + junk + body[middle:] + "." + sig for junk in ("!", "*", "\n", " ", "==", "%", "+", "/")]
    variants += [cursor + junk for junk in ("=", "==", "!", " ", "\x00")]
    variants += [" " + cursor, body + "=." + sig]
    # The last character of each part carries unused low bits: another letter with
    # the same high bits decodes to the same bytes.
    for part, rebuild in ((body, lambda p: p + "." + sig), (sig, lambda p: body + "." + p)):
        if len(part) % 4:
            alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
            variants.append(rebuild(part[:-1] + alphabet[alphabet.index(part[-1]) ^ 1]))
    return variants


def test_a_cursor_with_junk_inside_is_invalid_not_the_original() -> None:
    cursor = Listing({"limit": 2}, CURSORS, "x").info(Slice(["a"], next_key=("b", "id-2")))["next_cursor"]
    assert Listing({"cursor": cursor}, CURSORS, "x").page == KeysetPage(20, ("b", "id-2"))
    for bad in _junk_variants(cursor):
        assert bad != cursor
        with pytest.raises(InvalidParams) as refused:
            Listing({"cursor": bad}, CURSORS, "x")
        assert refused.value.errors == [{"field": "cursor", "message": "invalid cursor"}], repr(bad)
