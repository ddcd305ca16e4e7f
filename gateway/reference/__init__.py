"""The API reference and the clients' generated code, made from the method table.

`python main.py docs` writes every file of `generated_files()`; `python main.py docs
--check` (and tests/e2e/test_reference.py) fails, naming the files, when one of them is
not what the declarations in protocol/api make today. The files:

- docs/openrpc.json: the OpenRPC document (`rpc.discover` answers the same, with the
  node's own address in `servers`);
- docs/API.md: the reference for people (markdown.py);
- mgclient/methods.py: the Python client's typed methods and result types (python.py);
- clients/typescript/src/types.ts: the TypeScript client's types (typescript.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson

from gateway.version import VERSION
from protocol import api
from protocol.openrpc import Described, document

ROOT = Path(__file__).resolve().parent.parent.parent
TITLE = "media-gateway"
DESCRIPTION = ("JSON-RPC 2.0 over one WebSocket (text frames; batches of at most 100). Authenticate with "
               "`Authorization: Bearer <access_token>` on the handshake or with `auth.authenticate` on the "
               "open connection. Notifications the server sends are listed under `x-notifications`; "
               "`x-access` says who may call a method (anyone, user, admin).")
DEFAULT_SERVER = {
    "name": "gateway",
    "url": "ws://{host}:{port}/v1",
    "summary": "The WebSocket endpoint of a node (`--host`, `--port`)",
    "variables": {"host": {"default": "127.0.0.1"}, "port": {"default": "8080"}},
}


def server(host: str, port: int) -> dict[str, Any]:
    """The `servers` entry of a node listening on host:port."""
    return {"name": "gateway", "url": f"ws://{host}:{port}/v1", "summary": "This node's WebSocket endpoint"}


def openrpc(methods: Iterable[Described], servers: list[dict[str, Any]]) -> dict[str, Any]:
    """The gateway's OpenRPC document of `methods`."""
    return document(methods, api.notifications(), title=TITLE, version=VERSION, servers=servers,
                    description=DESCRIPTION)


def reference_document() -> dict[str, Any]:
    """The document of every declared method, as committed in docs/openrpc.json."""
    return openrpc(api.declarations(), [DEFAULT_SERVER])


def generated_files() -> dict[Path, str]:
    """Every generated file (path relative to the repository) and its content today."""
    from gateway.reference import markdown, python, typescript

    doc = reference_document()
    return {
        Path("docs/openrpc.json"): orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode() + "\n",
        Path("docs/API.md"): markdown.render(doc),
        Path("mgclient/methods.py"): python.render(doc),
        Path("clients/typescript/src/types.ts"): typescript.render(doc),
    }


def stale(root: Path = ROOT) -> list[Path]:
    """The generated files whose committed content differs from what they should be."""
    return [path for path, text in generated_files().items()
            if not (root / path).is_file() or (root / path).read_text(encoding="utf-8") != text]


def write(root: Path = ROOT) -> list[Path]:
    """Write every stale generated file; returns them."""
    changed = stale(root)
    files = generated_files()
    for path in changed:
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(files[path], encoding="utf-8")
    return changed
