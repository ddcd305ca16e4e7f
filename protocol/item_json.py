"""Content items spliced into answers as the JSON they encode once (`ContentItem.to_json`).

`content.list`, `content.episodes` and `search.query` answer pages of the same items
over and over; making each item's dict and encoding it again was most of their cost
beyond a ping. `fragments(items)` wraps each item's bytes as an `orjson.Fragment`, which
orjson copies into the answer as it is (the answer's bytes are the same as from the
dicts); `array(encoded)` does the same for items whose JSON the index already holds.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import orjson

from actors.catalog.model import ContentItem


def fragments(items: Iterable[ContentItem]) -> list[orjson.Fragment]:
    """The items as a list orjson encodes like `[i.to_dict() for i in items]`."""
    return [orjson.Fragment(i.to_json()) for i in items]


def array(encoded: Iterable[bytes]) -> orjson.Fragment:
    """Items already encoded (`ContentItem.to_json` each) as one JSON array."""
    return orjson.Fragment(b"[" + b",".join(encoded) + b"]")


def hit_fragments(items: Sequence[ContentItem], highlights: Iterable[object]) -> list[orjson.Fragment]:
    """Search hits: each item's object with `"highlights": marks` as its last key, as
    `{**item.to_dict(), "highlights": marks}` encodes."""
    return [orjson.Fragment(i.to_json()[:-1] + b',"highlights":' + orjson.dumps(marks) + b"}")
            for i, marks in zip(items, highlights)]
