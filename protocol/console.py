"""The console: a page for trying the API in a browser, served on the admin port.

`/console` is the page, `/console/<asset>` its script and style (from console_assets/,
read once), `/console/config.json` tells the page where the WebSocket port is (the
page then connects to it like any browser app: anonymously, then `auth.login` and
`auth.authenticate`). The admin port stays private (`--admin-host`, default
127.0.0.1), so the console is for operators and developers, not the public.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import orjson

ASSETS = Path(__file__).parent / "console_assets"
TYPES = {".html": b"text/html; charset=utf-8", ".js": b"text/javascript; charset=utf-8",
         ".css": b"text/css; charset=utf-8", ".json": b"application/json"}

Answer = tuple[int, bytes, bytes]


class Console:
    """Answers the admin port's `/console` paths. `ws_port()` is the WebSocket port
    (known once it listens); `ws_path` its path."""

    def __init__(self, ws_port: Callable[[], int | None], ws_path: str = "/v1") -> None:
        self._ws_port = ws_port
        self._ws_path = ws_path
        self._files = {"/console/" + p.name: (TYPES.get(p.suffix, b"application/octet-stream"), p.read_bytes())
                       for p in ASSETS.iterdir() if p.is_file()}

    def route(self, path: str) -> Answer | None:
        """The answer for `path`, or None when it is not the console's."""
        if path in ("/console", "/console/"):
            path = "/console/index.html"
        if path == "/console/config.json":
            body = orjson.dumps({"ws_port": self._ws_port(), "ws_path": self._ws_path})
            return 200, TYPES[".json"], body
        if not path.startswith("/console/"):
            return None
        found = self._files.get(path)
        if found is None:
            return 404, b"text/plain", b"not found\n"
        return 200, *found
