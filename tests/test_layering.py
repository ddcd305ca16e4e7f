"""Imports go one way: gateway -> protocol -> actors -> runtime (README, Layout). A
module may import from its own layer and the layers below it, never above. The client
(mgclient) is the command line's (gateway/call.py) and stands apart from the server."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.support import ROOT

LAYERS = ["runtime", "actors", "protocol", "gateway"]


def imported_packages(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize("layer", LAYERS)
def test_a_layer_imports_nothing_above_it(layer: str) -> None:
    above = set(LAYERS[LAYERS.index(layer) + 1:]) | {"tests", "bench"}
    if layer != "gateway":
        above.add("mgclient")
    wrong = {str(path.relative_to(ROOT)): sorted(imported_packages(path) & above)
             for path in sorted((ROOT / layer).rglob("*.py"))}
    assert {k: v for k, v in wrong.items() if v} == {}


def test_the_client_imports_no_part_of_the_server() -> None:
    wrong = {str(path.relative_to(ROOT)): sorted(imported_packages(path) & {*LAYERS, "tests", "bench"})
             for path in sorted((ROOT / "mgclient").rglob("*.py"))}
    assert {k: v for k, v in wrong.items() if v} == {}


def test_the_check_sees_an_upward_import(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("from gateway.config import Config\nimport protocol.jsonrpc\n")
    assert imported_packages(module) == {"gateway", "protocol"}
