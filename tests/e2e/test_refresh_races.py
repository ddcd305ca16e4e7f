"""Unlucky clients of `auth.refresh`, against real gateway processes (CONTRACT.md,
`auth.refresh`; issue 16): two tabs refreshing with one refresh token at once, and a
phone retrying a refresh whose answer it lost. Within `--refresh-reuse-interval`
(default 30 s) the direct predecessor of the family's newest refresh token, presented
again, answers the same successor pair; an older token, or any reuse after the window,
still revokes the family (-32009).

The overlap is real, not hoped for: the gateway reaches PostgreSQL through a proxy of
the test's own that holds what the gateway sends (a barrier) until both refreshes wait
at it, then lets them go together."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
import trio

from tests.e2e.node import Node
from tests.e2e.rawws import RawClient
from tests.support import FlakyProxy

REUSE = -32009


def _through(url: str, port: int) -> str:
    """`url` with its host and port replaced by the proxy's."""
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)
    address = f"127.0.0.1:{port}"
    return urlunsplit(parts._replace(netloc=f"{netloc[0]}@{address}" if len(netloc) == 2 else address))


def _call(url: str, method: str, params: Any, token: str | None = None) -> dict[str, Any]:
    with RawClient.open(url, token) as client:
        return client.call(method, params)


async def _refresh_together(urls: list[str], token: str, proxy: FlakyProxy) -> list[dict[str, Any]]:
    """`auth.refresh` with the same token from one connection per url, held at the
    proxy until every one of them waits there (or 3 s pass), then released together."""
    clients = [await trio.to_thread.run_sync(RawClient.open, url) for url in urls]
    answers: list[dict[str, Any]] = [{} for _ in urls]
    try:
        proxy.hold()

        async def refresh(i: int) -> None:
            def go() -> None:
                clients[i].send_json({"jsonrpc": "2.0", "id": 1, "method": "auth.refresh",
                                      "params": {"refresh_token": token}})
                answers[i] = clients[i].answer(1, timeout=30)
            await trio.to_thread.run_sync(go)

        async with trio.open_nursery() as nursery:
            for i in range(len(urls)):
                nursery.start_soon(refresh, i)
            with trio.move_on_after(3):
                while proxy.held < len(urls):
                    await trio.sleep(0.01)
            proxy.release()
    finally:
        proxy.release()
        for client in clients:
            client.close()
    return answers


def _assert_same_pair(answers: list[dict[str, Any]], family_id: str) -> dict[str, Any]:
    for answer in answers:
        assert "result" in answer, f"a tab was logged out: {answers}"
        assert answer["result"]["family_id"] == family_id
    pairs = {answer["result"]["refresh_token"] for answer in answers}
    assert len(pairs) == 1, f"each tab got another successor: {answers}"
    return answers[0]["result"]


@pytest.mark.parametrize("nodes", [1, 2], ids=["one node", "two nodes"])
async def test_two_tabs_refreshing_with_one_token_at_once_both_stay_logged_in(
        tmp_path: Path, pg_url: str, redis_url: str, nodes: int) -> None:
    async with trio.open_nursery() as nursery:
        proxy = FlakyProxy("127.0.0.1", urlsplit(pg_url).port or 5432)
        port = await nursery.start(proxy.run)
        args = ["--database-url", _through(pg_url, port), "--db-pool-size", "4"]
        if nodes == 2:
            args += ["--redis-url", redis_url]
        cluster = [Node(tmp_path / f"node{n}", *args) for n in range(nodes)]
        try:
            for node in cluster:
                await trio.to_thread.run_sync(node.start)
            user = await trio.to_thread.run_sync(cluster[0].register)
            tabs = [cluster[i % nodes].url for i in range(2)]
            answers = await _refresh_together(tabs, user["refresh_token"], proxy)
            grant = _assert_same_pair(answers, user["family_id"])
            # Both tabs go on: the successor's access token works everywhere, and the
            # successor refresh token rotates as usual.
            for node in cluster:
                profile = await trio.to_thread.run_sync(_call, node.url, "user.profile", None, grant["access_token"])
                assert profile.get("result", {}).get("user_id") == user["user_id"], profile
            nxt = await trio.to_thread.run_sync(_call, cluster[-1].url, "auth.refresh",
                                                {"refresh_token": grant["refresh_token"]})
            assert "result" in nxt, nxt
            for node in cluster:
                await trio.to_thread.run_sync(node.check)
        finally:
            for node in cluster:
                await trio.to_thread.run_sync(node.stop)
            nursery.cancel_scope.cancel()


def test_a_retried_refresh_whose_answer_was_lost_gets_the_same_pair(tmp_path: Path) -> None:
    node = Node(tmp_path / "node").start()
    try:
        user = node.register()
        first = _call(node.url, "auth.refresh", {"refresh_token": user["refresh_token"]})
        assert "result" in first, first
        # The phone never saw `first` and tries again, twice: the same pair each time.
        for _ in range(2):
            again = _call(node.url, "auth.refresh", {"refresh_token": user["refresh_token"]})
            assert again.get("result") == first["result"], again
        # The family lives on: the successor rotates, its access token works.
        second = _call(node.url, "auth.refresh", {"refresh_token": first["result"]["refresh_token"]})
        assert "result" in second, second
        profile = _call(node.url, "user.profile", None, second["result"]["access_token"])
        assert "result" in profile, profile
        node.check()
    finally:
        node.stop()


def test_an_older_token_still_revokes_the_family(tmp_path: Path) -> None:
    """Only the direct predecessor of the newest token is forgiven: the one before it
    is a stolen token's signature, and revokes the whole family at once."""
    node = Node(tmp_path / "node").start()
    try:
        user = node.register()
        first = _call(node.url, "auth.refresh", {"refresh_token": user["refresh_token"]})["result"]
        second = _call(node.url, "auth.refresh", {"refresh_token": first["refresh_token"]})["result"]
        answer = _call(node.url, "auth.refresh", {"refresh_token": user["refresh_token"]})
        assert answer.get("error", {}).get("code") == REUSE, answer
        refused = _call(node.url, "auth.refresh", {"refresh_token": second["refresh_token"]})
        assert refused.get("error", {}).get("code") in (REUSE, -32003), refused
        profile = _call(node.url, "auth.authenticate", {"access_token": second["access_token"]})
        assert profile.get("error", {}).get("code") == -32003, profile
        node.check()
    finally:
        node.stop()


def test_reuse_after_the_window_or_with_no_window_revokes_the_family(tmp_path: Path) -> None:
    for interval, wait in (("0.5", 1.0), ("0", 0.0)):
        node = Node(tmp_path / f"interval-{interval}", "--refresh-reuse-interval", interval).start()
        try:
            user = node.register()
            first = _call(node.url, "auth.refresh", {"refresh_token": user["refresh_token"]})
            assert "result" in first, first
            trio.run(trio.sleep, wait)  # the window itself is what is tested: let it pass
            answer = _call(node.url, "auth.refresh", {"refresh_token": user["refresh_token"]})
            assert answer.get("error", {}).get("code") == REUSE, (interval, answer)
            gone = _call(node.url, "auth.authenticate", {"access_token": first["result"]["access_token"]})
            assert gone.get("error", {}).get("code") == -32003, (interval, gone)
            node.check()
        finally:
            node.stop()
