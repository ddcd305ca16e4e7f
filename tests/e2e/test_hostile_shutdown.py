"""The edges of a graceful shutdown, against real gateway processes (CONTRACT.md,
"Process behaviour"; issue 16): a client that never stops sending is closed at the
drain deadline and the process still exits 0 with `stopped gracefully`; an idle client
that sends one request on hearing `system.shutdown` gets its answer before the close."""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.node import Node
from tests.e2e.rawws import CLOSE, Closed, RawClient

SHUTTING_DOWN = -32008


def _last_line(node: Node) -> str:
    return node.log.strip().splitlines()[-1]


def test_a_client_that_keeps_sending_is_closed_at_the_drain_deadline_and_the_exit_is_clean(tmp_path: Path) -> None:
    node = Node(tmp_path / "node", "--shutdown-timeout", "4").start()
    seen: dict[str, Any] = {"answers": [], "close": None}
    try:
        client = RawClient.open(node.url)
        stop = threading.Event()

        def chatter() -> None:
            rid = 0
            try:
                while not stop.is_set():
                    rid += 1
                    client.send_json({"jsonrpc": "2.0", "id": rid, "method": "system.ping"})
                    time.sleep(0.02)
            except OSError:
                pass

        sender = threading.Thread(target=chatter, daemon=True)
        sender.start()
        assert node.process is not None
        client.recv_frame()  # the chatter is under way
        node.process.proc.send_signal(signal.SIGTERM)
        try:
            for frame in client.messages(timeout=10):
                if frame.opcode == CLOSE:
                    seen["close"] = frame.close_code
                    break
                seen["answers"].append(frame.json())
        except Closed:
            pass
        stop.set()
        sender.join(5)
        client.close()
        code = node.process.wait(30)
    finally:
        node.kill()
    assert seen["close"] == 1001, seen["close"]
    after = [a for a in seen["answers"] if a.get("method") != "system.shutdown"]
    assert after and all("result" in a or a["error"]["code"] == SHUTTING_DOWN for a in after)
    assert any(a.get("error", {}).get("code") == SHUTTING_DOWN for a in after)
    assert code == 0, node.tail()
    assert "stopped gracefully" in _last_line(node)


def test_an_idle_client_that_sends_one_request_on_hearing_shutdown_gets_its_answer(tmp_path: Path) -> None:
    node = Node(tmp_path / "node").start()
    clients = [RawClient.open(node.url) for _ in range(6)]
    outcomes: list[tuple[Any, int | None]] = []
    try:
        for client in clients:
            assert client.call("system.ping")["result"] == {"pong": True}
        time.sleep(1.0)  # idle for longer than the drain's quiet moment: that is the case tested
        assert node.process is not None
        node.process.proc.send_signal(signal.SIGTERM)

        def react(client: RawClient) -> None:
            """What an app does: on hearing system.shutdown, send its last request."""
            answer: Any = None
            close: int | None = None
            try:
                for frame in client.messages(timeout=10):
                    if frame.opcode == CLOSE:
                        close = frame.close_code
                        break
                    doc = frame.json()
                    if doc.get("method") == "system.shutdown":
                        client.send_json({"jsonrpc": "2.0", "id": "last", "method": "system.ping"})
                    elif doc.get("id") == "last":
                        answer = doc
            except (Closed, OSError):
                pass
            outcomes.append((answer, close))

        # Each client reacts at once, as six apps would (not one after the other).
        threads = [threading.Thread(target=react, args=(client,)) for client in clients]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(20)
        code = node.process.wait(30)
    finally:
        for client in clients:
            client.close()
        node.kill()
    for answer, close in outcomes:
        assert answer is not None and answer.get("error", {}).get("code") == SHUTTING_DOWN, outcomes
        assert close == 1001, outcomes
    assert code == 0 and "stopped gracefully" in _last_line(node)
