"""Encoded answers of a read method, kept until what they were read from changes.

Search traffic repeats itself: the head of the query distribution is asked over and
over between two writes. An answer made once is kept as the bytes orjson wrote, under
the call's params (encoded with sorted keys) and a `version` that the domain changes
with every write; an answer of another version is never given, and the first lookup
under a new version forgets the old ones. Least recently used answers go first once
they hold more than `max_bytes`. A handler returns a kept answer as an
`orjson.Fragment`, which the engine copies into the response as it is.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from typing import Any

import orjson

from actors.compact import compact


def params_key(params: dict[str, Any]) -> bytes:
    """The key of a call's params: the same for the same params in any key order."""
    return orjson.dumps(params, option=orjson.OPT_SORT_KEYS)


class Answers:
    """Encoded answers of one version at a time (see the module docstring)."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._version: Hashable = None
        self._kept: OrderedDict[bytes, bytes] = OrderedDict()
        self._bytes = 0

    def __len__(self) -> int:
        return len(self._kept)

    def get(self, version: Hashable, key: bytes) -> bytes | None:
        if version != self._version:
            self._kept.clear()
            self._bytes = 0
            self._version = version
            return None
        raw = self._kept.get(key)
        if raw is not None:
            self._kept.move_to_end(key)
        return raw

    def put(self, version: Hashable, key: bytes, raw: bytes) -> None:
        """Keep `raw` as the answer to `key` under `version` (nothing if the version
        has moved on since, or if it alone exceeds `max_bytes`)."""
        if version != self._version or len(raw) + len(key) > self.max_bytes:
            return
        key, raw = compact(key), compact(raw)
        old = self._kept.pop(key, None)
        if old is not None:
            self._bytes -= len(old) + len(key)
        self._kept[key] = raw
        self._bytes += len(raw) + len(key)
        while self._bytes > self.max_bytes:
            gone_key, gone = self._kept.popitem(last=False)
            self._bytes -= len(gone) + len(gone_key)
