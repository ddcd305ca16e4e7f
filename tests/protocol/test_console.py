"""The console's routes on the admin port, as values."""

from __future__ import annotations

import orjson

from protocol.console import Console


def test_the_page_its_assets_and_the_ws_port() -> None:
    port: list[int | None] = [None]
    console = Console(lambda: port[0])
    for path in ("/console", "/console/", "/console/index.html"):
        status, ctype, body = console.route(path)  # type: ignore[misc]
        assert status == 200 and ctype.startswith(b"text/html") and b"/console/app.js" in body
    assert console.route("/console/app.js")[1].startswith(b"text/javascript")  # type: ignore[index]
    assert orjson.loads(console.route("/console/config.json")[2]) == {"ws_port": None, "ws_path": "/v1"}  # type: ignore[index]
    port[0] = 8080
    assert orjson.loads(console.route("/console/config.json")[2])["ws_port"] == 8080  # type: ignore[index]


def test_other_paths() -> None:
    console = Console(lambda: 1)
    assert console.route("/console/../main.py")[0] == 404  # type: ignore[index]
    assert console.route("/console/nothing.js")[0] == 404  # type: ignore[index]
    assert console.route("/metrics") is None
    assert console.route("/consoles") is None
