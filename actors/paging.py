"""Paging shared by every listing: offset pages or keyset cursors, and signed cursors.

A listing takes either `{page, page_size}` or `{limit, cursor?}`, never both. Cursors
are opaque to clients: the last row's sort key, bound to the listing it came from
(its `scope`) and signed with HMAC-SHA256, so a tampered or foreign cursor is
invalid params rather than a surprise.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
from typing import Any

import attrs
import orjson

from actors.errors import InvalidParams

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100
MAX_CURSOR_LENGTH = 2048


@attrs.frozen
class OffsetPage:
    page: int = 1
    page_size: int = DEFAULT_PAGE_SIZE

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.page_size

    def info(self, total: int) -> dict[str, Any]:
        pages = math.ceil(total / self.page_size) if total else 0
        return {"page": self.page, "page_size": self.page_size, "total": total,
                "total_pages": pages, "has_next_page": self.page < pages}


@attrs.frozen
class KeysetPage:
    limit: int
    after: tuple | None = None  # the decoded cursor: the last row's sort key

    @staticmethod
    def info(next_key: tuple | None, cursors: "CursorCodec", scope: str) -> dict[str, Any]:
        return {"has_next_page": next_key is not None,
                "next_cursor": None if next_key is None else cursors.encode(scope, next_key)}


Page = OffsetPage | KeysetPage


def parse_page(params: dict[str, Any], cursors: "CursorCodec", scope: str) -> Page:
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


def _check_size(field: str, value: Any) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_PAGE_SIZE:
        raise InvalidParams(field, f"must be an integer from 1 to {MAX_PAGE_SIZE}")


class CursorCodec:
    def __init__(self, secret: bytes) -> None:
        self._key = hashlib.sha256(b"mg-cursor\0" + secret).digest()

    def encode(self, scope: str, key: tuple) -> str:
        body = orjson.dumps([scope, list(key)])
        sig = hmac.new(self._key, body, hashlib.sha256).digest()[:16]
        return _b64(body) + "." + _b64(sig)

    def decode(self, scope: str, cursor: Any) -> list:
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
        return key


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, TypeError) as exc:
        raise ValueError("bad base64") from exc


PAGING_SCHEMA: dict[str, Any] = {
    "page": {"type": "integer", "minimum": 1, "maximum": 10_000_000},
    "page_size": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE},
    "limit": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE},
    "cursor": {"type": ["string", "null"], "maxLength": MAX_CURSOR_LENGTH},
}
"""JSON Schema properties for listing params; merge into a method's params schema."""
