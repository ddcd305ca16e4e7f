"""Fixtures of the hostile-client suite: one gateway process per test module."""

from __future__ import annotations

from typing import Iterator

import pytest

from tests.e2e.node import Node


@pytest.fixture(scope="module")
def module_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    node = Node(tmp_path_factory.mktemp("gateway")).start()
    try:
        yield node
    finally:
        node.kill() if not node.alive() else node.stop()


@pytest.fixture
def node(module_node: Node) -> Node:
    """The module's gateway, started again if an earlier test took it down."""
    node = module_node.ensure_running()
    node.mark()
    return node
