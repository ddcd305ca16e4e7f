"""Two gateway processes sharing PostgreSQL and Redis: a user's devices on different
nodes hear each other, Next Up and Continue Watching see the other node's viewing, and
a session stopped on one node is refused on the other."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import trio

from protocol import errors
from tests.auth_helpers import login, register_and_login
from tests.e2e.playback_helpers import EPISODE, MIN, catalog, heard, notifications, rpc_error, silent, watch
from tests.services import pg_database, pg_url, redis_url  # noqa: F401
from tests.support import ROOT, GatewayProcess, connect, http_get, start_nodes, stop

DONE = EPISODE - 10_000


def import_catalog(tmp_path: Path, database_url: str) -> None:
    path = tmp_path / "catalog.jsonl"
    path.write_bytes(b"\n".join(orjson.dumps(i.to_dict()) for i in catalog()) + b"\n")
    done = subprocess.run([sys.executable, str(ROOT / "main.py"), "import-catalog", str(path),
                           "--data-dir", str(tmp_path / "cli"), "--database-url", database_url],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def two_nodes(tmp_path: Path, database_url: str, redis: str) -> list[GatewayProcess]:
    import_catalog(tmp_path, database_url)
    return start_nodes(tmp_path, "--database-url", database_url, "--redis-url", redis,
                       "--playback-flush-interval", "0.2", env={"JWT_SECRET": "s" * 48})


async def test_devices_on_two_nodes_hear_each_other(tmp_path: Path, pg_url: str, redis_url: str) -> None:  # noqa: F811
    a, b = two_nodes(tmp_path, pg_url, redis_url)
    try:
        user = await register_and_login(a.url)
        stranger = await register_and_login(b.url)
        again = await login(b.url, user["email"])
        async with connect(a.url, user["access_token"]) as phone, connect(b.url, again["access_token"]) as tv, \
                connect(b.url, stranger["access_token"]) as other:
            sub = (await tv.call("playback.subscribe"))["subscription"]
            await other.call("playback.subscribe")
            sid = (await phone.call("playback.start", {"content_id": "sae101", "device_id": "phone"}))["session_id"]
            for minute in (5, 6, 7):
                started = trio.current_time()
                await phone.notify("playback.position", {"session_id": sid, "position_ms": minute * MIN})
                note = await heard(tv)
                assert trio.current_time() - started < 1.0
                params = note["params"]
                assert (params["subscription"], params["content_id"], params["position_ms"], params["device_id"]) \
                    == (sub, "sae101", minute * MIN, "phone")
                await trio.sleep(0.5)  # the next one is not held back by the per-item rate
            await phone.call("playback.stop", {"session_id": sid, "position_ms": DONE})
            params = (await heard(tv))["params"]
            assert (params["position_ms"], params["completed"], params["played"]) == (DONE, True, True)
            await phone.call("playback.mark_played", {"content_id": "m1", "played": True})
            params = (await heard(tv))["params"]
            assert (params["content_id"], params["completed"], params["played"]) == ("m1", True, True)
            assert await silent(other, 0.3) and await silent(phone, 0.01)

            # The other node's listings see the viewing done on the first.
            up = await tv.call("playback.next_up")
            assert [i["content"]["id"] for i in up["items"]] == ["sae102"]
            await watch(phone, "sae102", DONE)
            await watch(phone, "sae103", EPISODE // 2)
            await watch(phone, "m2", 60 * MIN)
            await watch(phone, "sbe101", EPISODE // 2)
            await watch(phone, "sbe102", EPISODE // 2)
            assert (await tv.call("playback.next_up"))["items"][0]["content"]["id"] == "sae103"
            listed = [i["content"]["id"] for i in (await tv.call("playback.continue_watching"))["items"]]
            assert listed == ["sbe102", "m2", "sae103"]  # one entry per series

            await tv.call("playback.unsubscribe", {"subscription": sub})
            await phone.call("playback.mark_played", {"content_id": "m1", "played": False})
            late: list[dict[str, Any]] = notifications(tv)  # sent before the unsubscribe
            with trio.move_on_after(0.8):
                late.append(await heard(tv, 2.0))
            assert not [n for n in late if n["params"]["content_id"] == "m1" and not n["params"]["played"]]
        for node, name in ((a, "mg_playback_sync_published_total"), (b, "mg_playback_sync_received_total")):
            status, body = await http_get(node.admin + "/metrics")
            assert status == 200
            value = next(float(line.split()[1]) for line in body.decode().splitlines() if line.startswith(name + " "))
            assert value >= 5
    finally:
        stop(a, b)


async def test_a_stopped_session_is_refused_on_every_node(tmp_path: Path, pg_url: str,  # noqa: F811
                                                          redis_url: str) -> None:  # noqa: F811
    a, b = two_nodes(tmp_path, pg_url, redis_url)
    try:
        user = await register_and_login(a.url)
        token = user["access_token"]
        async with connect(a.url, token) as on_a, connect(b.url, token) as on_b:
            sid = (await on_a.call("playback.start", {"content_id": "m1"}))["session_id"]
            await on_a.call("playback.position", {"session_id": sid, "position_ms": 10 * MIN})
            # Node b takes the session over and stops it there.
            await on_b.call("playback.position", {"session_id": sid, "position_ms": 20 * MIN})
            assert (await on_b.call("playback.stop", {"session_id": sid, "position_ms": 30 * MIN}))["position_ms"] \
                == 30 * MIN
            # Node a, which still held the session, hears of the stop within a second.
            async def refused(method: str, params: dict[str, Any]) -> bool:
                try:
                    await on_a.call(method, params)
                except Exception as exc:  # noqa: BLE001
                    assert getattr(exc, "code", None) == errors.NOT_FOUND, exc
                    return True
                return False

            with trio.fail_after(1.0):
                while not await refused("playback.position", {"session_id": sid, "position_ms": 40 * MIN}):
                    await trio.sleep(0.02)
            assert await refused("playback.stop", {"session_id": sid, "position_ms": 50 * MIN})
            await on_a.notify("playback.position", {"session_id": sid, "position_ms": 60 * MIN})
            await on_a.call("system.ping")
            await trio.sleep(0.5)  # two flush intervals: anything taken would be written by now
            for client in (on_a, on_b):
                assert (await client.call("playback.resume", {"content_id": "m1"}))["position_ms"] == 30 * MIN
            err = await rpc_error(on_b, "playback.position", {"session_id": sid, "position_ms": 1})
            assert err.code == errors.NOT_FOUND
    finally:
        stop(a, b)
