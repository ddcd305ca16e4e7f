"""Floods against a real gateway process: a request flood on one connection, a
notification flood, many connections flooding at once, anonymous writes, pipelined
wrong passwords. Every request is answered (a result or -32006 with
`data.retry_after`), others are served meanwhile, and what a client can make the
gateway hold or store is bounded. Each test ends with `Node.check()`."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

from tests.auth_helpers import fresh_email
from tests.e2e.node import Node, unique
from tests.e2e.rawws import TEXT, RawClient, encode_frame


def _pipeline(client: RawClient, frames: list[str], answers_expected: int, timeout: float = 30) -> list[Any]:
    """Send every frame while a thread reads; the answers (batches flattened)."""
    got: list[Any] = []
    failure: list[BaseException] = []

    def read() -> None:
        try:
            while len(got) < answers_expected:
                doc = client.recv_frame(timeout).json()
                if isinstance(doc, list):
                    got.extend(doc)
                elif "id" in doc:
                    got.append(doc)
        except BaseException as exc:  # reported by the caller
            failure.append(exc)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    for frame in frames:
        client.send_text(frame)
    reader.join(timeout + 5)
    assert not failure, failure
    return got


def _assert_answered_or_limited(answers: list[Any]) -> int:
    """Every answer a pong or -32006 with a positive `retry_after`; how many were limited."""
    limited = 0
    for answer in answers:
        if "result" in answer:
            assert answer["result"] == {"pong": True}, answer
            continue
        assert answer["error"]["code"] == -32006, answer
        retry_after = (answer["error"].get("data") or {}).get("retry_after")
        assert isinstance(retry_after, (int, float)) and retry_after > 0, answer
        limited += 1
    return limited


def _latency_while(node: Node, running: threading.Event) -> list[float]:
    """Ping latencies of a separate client, sampled until `running` clears."""
    samples: list[float] = []
    with RawClient.open(node.url) as watcher:
        while running.is_set():
            started = time.monotonic()
            assert watcher.call("system.ping")["result"] == {"pong": True}
            samples.append(time.monotonic() - started)
            time.sleep(0.02)
    return samples


def test_a_request_flood_on_one_connection_is_rate_limited(node: Node) -> None:
    frames = ['{"jsonrpc":"2.0","id":%d,"method":"system.ping"}' % i for i in range(5000)]
    with RawClient.open(node.url) as client:
        answers = _pipeline(client, frames, len(frames))
        assert sorted(a["id"] for a in answers) == list(range(5000))
        assert _assert_answered_or_limited(answers) > 0, "5,000 requests at once and none limited"
    node.check()


def test_others_are_served_during_floods_from_many_connections(node: Node) -> None:
    """40 connections each pipeline 500 requests (batches and single) while a separate
    client pings: every request is answered or limited, and the bystander's pings take
    under a second each."""
    running = threading.Event()
    running.set()
    latencies: list[float] = []
    bystander = threading.Thread(target=lambda: latencies.extend(_latency_while(node, running)), daemon=True)
    bystander.start()
    failures: list[BaseException] = []

    def flood(n: int) -> None:
        try:
            batch = json.dumps([{"jsonrpc": "2.0", "id": f"{n}-b{i}", "method": "system.ping"} for i in range(50)])
            frames = [batch] * 4 + ['{"jsonrpc":"2.0","id":%d,"method":"system.ping"}' % i for i in range(300)]
            with RawClient.open(node.url) as client:
                answers = _pipeline(client, frames, 500)
                assert len(answers) == 500
                _assert_answered_or_limited(answers)
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=flood, args=(n,), daemon=True) for n in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    running.clear()
    bystander.join(10)
    assert not failures, failures[:3]
    assert latencies and max(latencies) < 1.0, f"slowest bystander ping {max(latencies):.2f} s"
    node.check()


NOTIFICATIONS = 30_000


def test_a_notification_flood_is_absorbed(node: Node) -> None:
    """30,000 notifications (each owes no answer) from one connection: the process
    neither queues them without bound nor stops serving others."""
    before = node.rss()
    running = threading.Event()
    running.set()
    latencies: list[float] = []
    bystander = threading.Thread(target=lambda: latencies.extend(_latency_while(node, running)), daemon=True)
    bystander.start()
    notes = [json.dumps({"jsonrpc": "2.0", "method": method, "params": params}) for method, params in (
        ("system.ping", None), ("content.get", {"id": "nothing"}), ("nope", [1]), ("playback.position", {}))]
    chunk = b"".join(encode_frame(TEXT, notes[i % len(notes)].encode()) for i in range(1000))
    with RawClient.open(node.url) as client:
        client.sock.settimeout(30)
        for _ in range(NOTIFICATIONS // 1000):
            client.sendall(chunk)
        # The flooder itself is still served (or told to slow down): its connection lives.
        _assert_answered_or_limited([client.call("system.ping", timeout=30)])
    running.clear()
    bystander.join(10)
    assert latencies and max(latencies) < 1.0, f"slowest bystander ping {max(latencies):.2f} s"
    assert node.rss() - before < 32 << 20
    node.check()


def _database_bytes(data_dir: Path) -> int:
    return sum(f.stat().st_size for f in data_dir.glob("gateway.db*"))


ANONYMOUS_STORAGE_BOUND = 256 << 10


def test_anonymous_callers_cannot_grow_storage_without_bound(node: Node) -> None:
    """19,000 first assignments of made-up user ids from 100 anonymous connections (190
    each, under the rate limit's burst). Bound: the database grows by at most 256 KiB
    (about 4,000 assignment rows) once everything is written (measured after a
    graceful stop, which flushes)."""
    experiment = unique("flood")
    with RawClient.open(node.url, node.token("admin")) as admin:
        admin.result("experiments.create", {"id": experiment, "name": "flood", "variants": ["a", "b"]})
    assert node.stop() == 0
    before = _database_bytes(node.data_dir)
    node.start()
    for conn in range(100):
        with RawClient.open(node.url) as client:
            for half in range(2):
                client.send_text(json.dumps([{"jsonrpc": "2.0", "id": i, "method": "experiments.assign", "params": {
                    "experiment_id": experiment, "user_id": f"anon-{conn}-{half}-{i}"}} for i in range(95)]))
                for answer in client.recv_frame().json():
                    assert "result" in answer or answer["error"]["code"] in (-32006, -32001, -32602), answer
    node.check()
    assert node.stop() == 0
    grown = _database_bytes(node.data_dir) - before
    assert grown <= ANONYMOUS_STORAGE_BOUND, f"the database grew {grown >> 10} KiB"


def test_the_login_lock_counts_attempts_as_they_are_admitted(node: Node) -> None:
    email = fresh_email("locked")
    node.register(email)
    frames = ['{"jsonrpc":"2.0","id":%d,"method":"auth.login","params":{"email":"%s","password":"wrong guess %d"}}'
              % (i, email, i) for i in range(8)]
    results: list[list[Any]] = []

    def attack() -> None:
        with RawClient.open(node.url) as client:
            results.append(_pipeline(client, frames, len(frames)))

    threads = [threading.Thread(target=attack, daemon=True) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    codes = [answer["error"]["code"] for answers in results for answer in answers]
    assert len(codes) == 32 and set(codes) <= {-32010, -32006}, codes
    assert codes.count(-32010) <= 5, f"{codes.count(-32010)} wrong passwords checked; the lock allows 5"
    node.check()
