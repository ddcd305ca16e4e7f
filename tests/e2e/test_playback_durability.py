"""Playback positions across real gateway processes: an orderly stop (SIGTERM) loses
nothing, a kill -9 loses at most what was not yet flushed, and a session started on one
node goes on on another (shared PostgreSQL)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import trio

from tests.auth_helpers import PASSWORD, login, register_and_login
from tests.support import ROOT, GatewayProcess, connect, http_get

HOUR = 3_600_000
FILMS = [{"id": f"m{i}", "title": f"Film {i}", "type": "movie", "year": 2000 + i, "duration_ms": HOUR}
         for i in range(4)]


def import_films(tmp_path: Path, *where: str) -> None:
    path = tmp_path / "films.jsonl"
    path.write_bytes(b"\n".join(orjson.dumps(f) for f in FILMS) + b"\n")
    done = subprocess.run([sys.executable, str(ROOT / "main.py"), "import-catalog", str(path), *where],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


async def metrics(node: GatewayProcess) -> dict[str, float]:
    status, body = await http_get(node.admin + "/metrics")
    assert status == 200
    values = {}
    for line in body.decode().splitlines():
        if line.startswith("mg_playback_"):
            name, value = line.rsplit(" ", 1)
            values[name] = float(value)
    return values


async def until_durable(node: GatewayProcess) -> dict[str, float]:
    """Wait until every position the node has received is written (its metrics say so)."""
    with trio.fail_after(20):
        while True:
            m = await metrics(node)
            if m["mg_playback_unflushed"] == 0 and m["mg_playback_rows_written_total"] > 0:
                return m
            await trio.sleep(0.02)


async def resume_of(url: str, token: str, content_id: str) -> int:
    async with connect(url, token) as client:
        return (await client.call("playback.resume", {"content_id": content_id}))["position_ms"]


async def test_sigterm_then_restart_keeps_the_last_position(tmp_path: Path) -> None:
    data = tmp_path / "data"
    import_films(tmp_path, "--data-dir", str(data))
    # An interval far longer than the test: only the stop can have written them.
    first = GatewayProcess(data, "--playback-flush-interval", "600", "--rate-limit", "0")  # 250 in a row
    try:
        user = await register_and_login(first.url)
        async with connect(first.url, user["access_token"]) as client:
            sessions = [(await client.call("playback.start", {"content_id": f["id"]}))["session_id"]
                        for f in FILMS]
            for step in range(50):
                for n, sid in enumerate(sessions):
                    await client.notify("playback.position",
                                        {"session_id": sid, "position_ms": 600_000 + 10_000 * step + n})
            await client.call("system.ping")  # every notification before it was read
        assert (await metrics(first))["mg_playback_rows_written_total"] == 0
    finally:
        assert first.terminate() == 0
    assert "stopped gracefully" in first.lines[-1]
    second = GatewayProcess(data)
    try:
        token = (await login(second.url, user["email"], PASSWORD))["access_token"]
        for n, f in enumerate(FILMS):
            assert await resume_of(second.url, token, f["id"]) == 600_000 + 10_000 * 49 + n
        # The sessions themselves go on after the restart.
        async with connect(second.url, token) as client:
            await client.call("playback.position", {"session_id": sessions[0], "position_ms": 2_000_000})
            assert (await client.call("playback.stop", {"session_id": sessions[0]}))["position_ms"] == 2_000_000
    finally:
        assert second.terminate() == 0


async def test_kill_9_keeps_every_position_flushed_before_it(tmp_path: Path) -> None:
    data = tmp_path / "data"
    import_films(tmp_path, "--data-dir", str(data))
    first = GatewayProcess(data, env={"MG_PLAYBACK_FLUSH_INTERVAL": "0.3"})
    try:
        user = await register_and_login(first.url)
        async with connect(first.url, user["access_token"]) as client:
            sessions = [(await client.call("playback.start", {"content_id": f["id"]}))["session_id"]
                        for f in FILMS]
            for step in range(30):
                for n, sid in enumerate(sessions):
                    await client.notify("playback.position",
                                        {"session_id": sid, "position_ms": 300_000 + 10_000 * step + n})
            await client.call("system.ping")
            durable = await until_durable(first)
            # Newer positions the node holds but has not written: a kill may lose them.
            for n, sid in enumerate(sessions):
                await client.notify("playback.position", {"session_id": sid, "position_ms": 3_000_000 + n})
            await client.call("system.ping")
        first.kill()
    finally:
        first.kill()
    assert durable["mg_playback_flushes_total"] <= 30  # batched, not one write per update
    second = GatewayProcess(data)
    try:
        token = (await login(second.url, user["email"], PASSWORD))["access_token"]
        for n, f in enumerate(FILMS):
            assert await resume_of(second.url, token, f["id"]) in (300_000 + 10_000 * 29 + n, 3_000_000 + n)
    finally:
        assert second.terminate() == 0


async def test_a_session_goes_on_on_another_node(tmp_path: Path, pg_url: str) -> None:
    shared = ("--database-url", pg_url, "--jwt-secret", "s" * 48)
    import_films(tmp_path, "--data-dir", str(tmp_path / "cli"), "--database-url", pg_url)
    a = GatewayProcess(tmp_path / "a", *shared, "--playback-flush-interval", "0.2")
    b = GatewayProcess(tmp_path / "b", *shared, "--playback-flush-interval", "0.2")
    try:
        user = await register_and_login(a.url)
        token = user["access_token"]
        async with connect(a.url, token) as on_a, connect(b.url, token) as on_b:
            sid = (await on_a.call("playback.start", {"content_id": "m1"}))["session_id"]
            await on_a.call("playback.position", {"session_id": sid, "position_ms": 1_000_000})
            await until_durable(a)
            # The client moves to node b with the same session (b takes it over).
            await on_b.call("playback.position", {"session_id": sid, "position_ms": 1_100_000})
            await until_durable(b)
            assert (await on_a.call("playback.start", {"content_id": "m1"}))["resume"]["position_ms"] == 1_100_000
            stopped = await on_b.call("playback.stop", {"session_id": sid, "position_ms": 1_200_000})
            assert stopped == {"position_ms": 1_200_000, "completed": False}
            assert (await on_a.call("playback.resume", {"content_id": "m1"}))["position_ms"] == 1_200_000
            other = await register_and_login(b.url)
            async with connect(b.url, other["access_token"]) as stranger:
                sid2 = (await on_a.call("playback.start", {"content_id": "m2"}))["session_id"]
                error: Any = None
                try:
                    await stranger.call("playback.position", {"session_id": sid2, "position_ms": 1})
                except Exception as exc:  # noqa: BLE001
                    error = exc
                assert getattr(error, "code", None) == -32004
    finally:
        for node in (a, b):
            try:
                node.terminate(30)
            except Exception:
                node.kill()
