"""Encodings kept for long hold about their own size in memory, not orjson's buffer.

orjson writes into a buffer of at least 4 KiB and shrinks it in place, so each kept
encoding of a few hundred bytes held about 4 KiB (measured in the gateway: 397 MB more
after listing a 100,000-title catalog). Each keeper below keeps 20,000 encodings of
about 200 bytes in a fresh interpreter (where no freed memory hides the growth):
uncompacted they grew it by 86 to 165 MB, compacted by 7 to 13 MB (the items and the
containers keeping them included); the bound, 2 KiB each (40 MB), lies far from both.
"""

from __future__ import annotations

import gc
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest
import trio

from actors.catalog.model import ContentItem
from actors.compact import compact
from actors.kv import MemoryKV
from protocol.answers import Answers, params_key
from tests.e2e.wsraw import rss_bytes

COUNT = 20_000
BOUND = 2048  # bytes per kept encoding (the items and the containers keeping them included)


def doc(n: int) -> dict[str, object]:
    return {"id": f"m-{n:06d}", "title": f"A title number {n}", "genres": ["Drama", "Comedy"], "year": 1990 + n % 30,
            "platforms": ["netflix"], "rating": 7.5, "popularity": n / 7, "duration_ms": 6_000_000}


def items() -> list[object]:
    made = [ContentItem(f"m-{n:06d}", f"A title number {n}", "movie", 1990 + n % 30, ("Drama", "Comedy"),
                        ("netflix",), 7.5, n / 7, 6_000_000) for n in range(COUNT)]
    return [(item, item.to_json()) for item in made]


def answers() -> list[object]:
    kept = Answers(1 << 30)
    kept.get(1, b"")  # answers are kept under the version last looked up
    for n in range(COUNT):
        kept.put(1, params_key({"query": f"q{n}", "limit": 10}), orjson.dumps(doc(n)))
    assert len(kept) == COUNT
    return [kept]


def kv_values() -> list[object]:
    kv = MemoryKV()

    async def fill() -> None:
        for n in range(COUNT):
            await kv.set(f"k{n}", orjson.dumps(doc(n)))
    trio.run(fill)
    return [kv]


KEEPERS: dict[str, Callable[[], list[object]]] = {"items": items, "answers": answers, "kv_values": kv_values}


def grown_by(name: str) -> int:
    """RSS growth of this process while `KEEPERS[name]` keeps its encodings."""
    gc.collect()
    before = rss_bytes(os.getpid())
    kept = KEEPERS[name]()
    grown = rss_bytes(os.getpid()) - before
    assert kept
    return grown


@pytest.mark.parametrize("name", list(KEEPERS))
def test_a_kept_encoding_holds_about_its_own_size(name: str) -> None:
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-m", "tests.actors.test_compact", name], cwd=root,
                          capture_output=True, text=True, timeout=60, check=True)
    grown = int(done.stdout)
    assert grown < COUNT * BOUND, f"{grown / COUNT:.0f} bytes per kept encoding"


def test_compact_is_an_equal_copy() -> None:
    raw = orjson.dumps(doc(1))
    copied = compact(raw)
    assert copied == raw and copied is not raw and type(copied) is bytes


if __name__ == "__main__":
    print(grown_by(sys.argv[1]))
