"""Paging on the wire, the same for every listing method.

A listing takes either `{page, page_size}` or `{limit, cursor?}`, never both
(`PAGING_SCHEMA` merges into its params schema). `Listing(params, cursors, scope)`
parses the request into the page an actor is asked for, and `info(slice)` turns the
actor's answer into the client's `page_info`: page, page_size, total, total_pages and
has_next_page for offset pages; has_next_page and next_cursor for keyset pages.

Cursors are opaque to clients: the last row's sort key, bound to the listing it came
from (its `scope`) and signed with HMAC-SHA256, so a tampered or foreign cursor is
invalid params rather than a surprise.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import re
from typing import Any

import orjson

from actors.errors import InvalidParams
from actors.paging import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, KeysetPage, OffsetPage, Page, Slice, SortKey

MAX_CURSOR_LENGTH = 2048

PAGING_SCHEMA: dict[str, Any] = {
    "page": {"type": "integer", "minimum": 1, "maximum": 10_000_000},
    "page_size": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE},
    "limit": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE},
    "cursor": {"type": ["string", "null"], "maxLength": MAX_CURSOR_LENGTH},
}
"""JSON Schema properties for listing params; merge into a method's params schema."""

PAGE_INFO_SCHEMA: dict[str, Any] = {
    "title": "PageInfo",
    "description": "offset pages: page, page_size, total, total_pages, has_next_page; "
                   "keyset pages: has_next_page, next_cursor (null on the last page)",
    "type": "object",
    "properties": {
        "page": {"type": "integer"}, "page_size": {"type": "integer"}, "total": {"type": "integer"},
        "total_pages": {"type": "integer"}, "has_next_page": {"type": "boolean"},
        "next_cursor": {"type": ["string", "null"]},
    },
    "required": ["has_next_page"],
}
"""The `page_info` of every listing's result."""


class CursorCodec:
    """Signs sort keys into cursors and checks them back (HMAC-SHA256, 16 bytes)."""

    def __init__(self, secret: bytes) -> None:
        self._key = hashlib.sha256(b"mg-cursor\0" + secret).digest()

    def encode(self, scope: str, key: SortKey) -> str:
        body = orjson.dumps([scope, list(key)])
        sig = hmac.new(self._key, body, hashlib.sha256).digest()[:16]
        return _b64(body) + "." + _b64(sig)

    def decode(self, scope: str, cursor: object) -> list[Any]:
        if not isinstance(cursor, str) or len(cursor) > MAX_CURSOR_LENGTH or cursor.count(".") != 1:
            raise InvalidParams("cursor", "invalid cursor")
        body_part, sig_part = cursor.split(".")
        try:
            body, sig = _unb64(body_part), _unb64(sig_part)
        except ValueError:
            raise InvalidParams("cursor", "invalid cursor") from None
        expected = hmac.new(self._key, body, hashlib.sha256).digest()[:16]
        if not hmac.compare_digest(sig, expected):
            raise InvalidParams("cursor", "invalid cursor")
        got_scope, key = orjson.loads(body)
        if got_scope != scope:
            raise InvalidParams("cursor", "cursor belongs to another listing")
        return key  # type: ignore[no-any-return]


class Listing:
    """The paging of one listing call (see the module docstring)."""

    __slots__ = ("page", "_cursors", "_scope")

    def __init__(self, params: dict[str, Any], cursors: CursorCodec, scope: str) -> None:
        self._cursors = cursors
        self._scope = scope
        self.page: Page = parse_page(params, cursors, scope)

    def info(self, found: Slice[object]) -> dict[str, Any]:
        """The client's `page_info` for the slice an actor answered for `page`."""
        page = self.page
        if isinstance(page, OffsetPage):
            total = found.total or 0
            pages = math.ceil(total / page.page_size) if total else 0
            return {"page": page.page, "page_size": page.page_size, "total": total,
                    "total_pages": pages, "has_next_page": page.page < pages}
        key = found.next_key
        return {"has_next_page": key is not None,
                "next_cursor": None if key is None else self._cursors.encode(self._scope, key)}


def parse_page(params: dict[str, Any], cursors: CursorCodec, scope: str) -> Page:
    """The paging request in `params` (already type-checked by the schema)."""
    offset_keys = {"page", "page_size"} & params.keys()
    keyset_keys = {"limit", "cursor"} & params.keys()
    if offset_keys and keyset_keys:
        field = sorted(keyset_keys)[0]
        raise InvalidParams(field, "use either page/page_size or limit/cursor, not both")
    if keyset_keys:
        limit = params.get("limit", DEFAULT_PAGE_SIZE)
        _check_size("limit", limit)
        cursor = params.get("cursor")
        after = None if cursor is None else tuple(cursors.decode(scope, cursor))
        return KeysetPage(limit, after)
    page = params.get("page", 1)
    size = params.get("page_size", DEFAULT_PAGE_SIZE)
    if not isinstance(page, int) or page < 1:
        raise InvalidParams("page", "must be an integer >= 1")
    _check_size("page_size", size)
    return OffsetPage(page, size)


def _check_size(field: str, value: object) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_PAGE_SIZE:
        raise InvalidParams(field, f"must be an integer from 1 to {MAX_PAGE_SIZE}")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


_B64URL = re.compile(r"[A-Za-z0-9_-]*")


def _unb64(text: str) -> bytes:
    """Strict unpadded base64url: only the alphabet, and only the one spelling `_b64`
    gives (Python's decoder skips foreign characters and ignores the unused low bits of
    the last one, so junk inside a cursor would decode as the original)."""
    if _B64URL.fullmatch(text) is None or len(text) % 4 == 1:
        raise ValueError("bad base64")
    data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if _b64(data) != text:
        raise ValueError("bad base64")
    return data
