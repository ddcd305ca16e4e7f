"""Hostile and unlucky clients across two gateway nodes sharing PostgreSQL and Redis:
a playback session stopped on one node keeps taking writes on the other; wrong
passwords spread over both nodes at once against the login lock."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

from tests.auth_helpers import fresh_email
from tests.e2e.contract import USER, judge
from tests.e2e.node import FD_SLACK, Node
from tests.e2e.rawws import RawClient

POOL_FDS = 10
"""A node on PostgreSQL opens its pool's connections (--db-pool-size, 10) as requests
need them, and keeps them: open files the baseline did not have, and no leak."""

FLUSH = 0.2  # --playback-flush-interval of the nodes


@pytest.fixture
def cluster(tmp_path: Path, pg_url: str, redis_url: str) -> Iterator[list[Node]]:
    args = ("--database-url", pg_url, "--redis-url", redis_url, "--playback-flush-interval", str(FLUSH))
    nodes: list[Node] = []
    try:
        for n in range(2):
            nodes.append(Node(tmp_path / f"node{n}", *args).start())
        yield nodes
    finally:
        for node in nodes:
            node.stop()


def test_a_session_stopped_on_one_node_takes_no_more_writes_on_another(cluster: list[Node]) -> None:
    one, two = cluster
    with RawClient.open(one.url, one.token("admin")) as admin:
        admin.result("content.upsert", {"items": [{"id": "film", "title": "Film", "type": "movie", "year": 2001,
                                                    "duration_ms": 6_000_000}]})
    user = one.register()
    with RawClient.open(one.url, user["access_token"]) as tv, RawClient.open(two.url, user["access_token"]) as phone:
        session = tv.result("playback.start", {"content_id": "film", "device_id": "tv"})["session_id"]
        tv.result("playback.position", {"session_id": session, "position_ms": 1_000_000})
        stopped = phone.result("playback.stop", {"session_id": session, "position_ms": 2_000_000})
        assert stopped["position_ms"] == 2_000_000
        late = tv.call("playback.position", {"session_id": session, "position_ms": 4_000_000})
        again = tv.call("playback.stop", {"session_id": session, "position_ms": 4_500_000})
        judge("playback.position", USER, late)
        judge("playback.stop", USER, again)
        assert "result" not in again or again["result"]["position_ms"] == 2_000_000, again
        # The contract bounds write-behind by the flush interval: after five of them, a
        # late position that was going to land has landed.
        time.sleep(FLUSH * 5)
        for client in (tv, phone):
            assert client.result("playback.resume", {"content_id": "film"})["position_ms"] == 2_000_000
    for node in cluster:
        node.check(fd_slack=FD_SLACK + POOL_FDS)


def test_the_login_lock_holds_across_nodes(cluster: list[Node]) -> None:
    email = fresh_email("spread")
    cluster[0].register(email)
    codes: list[int] = []

    def attack(node: Node, offset: int) -> None:
        with RawClient.open(node.url) as client:
            for i in range(8):
                client.send_json({"jsonrpc": "2.0", "id": i, "method": "auth.login",
                                  "params": {"email": email, "password": f"wrong {offset + i}"}})
            answers: list[Any] = [client.answer(i, timeout=30) for i in range(8)]
        codes.extend(answer["error"]["code"] for answer in answers)

    threads = [threading.Thread(target=attack, args=(node, 100 * n), daemon=True)
               for n, node in enumerate(cluster * 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(codes) == 32 and set(codes) <= {-32010, -32006}, codes
    assert codes.count(-32010) <= 5, f"{codes.count(-32010)} wrong passwords checked across two nodes; the lock allows 5"
    for node in cluster:
        node.check(fd_slack=FD_SLACK + POOL_FDS)
