"""The generated reference and client code are current, and a gateway serves exactly
the methods the reference describes."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

from gateway import reference
from tests.support import ROOT, connect


def test_the_committed_reference_and_generated_code_are_current() -> None:
    stale = reference.stale()
    assert not stale, (f"stale generated files: {', '.join(map(str, stale))}. "
                       "Run `python main.py docs` and commit what it writes.")


def test_docs_check_names_a_stale_file(tmp_path: Any) -> None:
    for path, text in reference.generated_files().items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(text)
    assert reference.stale(tmp_path) == []
    (tmp_path / "docs/API.md").write_text("old")
    assert [str(p) for p in reference.stale(tmp_path)] == ["docs/API.md"]
    done = subprocess.run([sys.executable, "main.py", "docs", "--check"], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


async def test_rpc_discover_is_the_reference_with_the_node_address(gateway: Any) -> None:
    async with connect(gateway.url) as client:
        live = await client.call("rpc.discover")
    committed = reference.reference_document()
    assert live["servers"] == [{"name": "gateway", "url": gateway.url, "summary": "This node's WebSocket endpoint"}]
    assert {**live, "servers": None} == {**committed, "servers": None}
