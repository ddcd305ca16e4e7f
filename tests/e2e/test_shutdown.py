"""SIGTERM delivered to a real server process while clients are sending."""

from __future__ import annotations

import orjson
import trio
from trio_websocket import ConnectionClosed, open_websocket_url

from protocol import errors
from tests.support import GatewayProcess

CLIENTS = 8
WINDOW = 4  # requests each client keeps outstanding


async def pipelined_client(url: str, started: trio.Event, report: dict) -> None:
    """Keeps WINDOW pings in flight until told the server is shutting down."""
    sent: set[int] = set()
    answered: dict[int, str] = {}
    close_code = None
    stop = trio.Event()
    async with open_websocket_url(url) as ws:
        window = trio.Semaphore(WINDOW)

        async def reader() -> None:
            nonlocal close_code
            try:
                while True:
                    msg = orjson.loads(await ws.get_message())
                    if msg.get("method") == "system.shutdown":
                        stop.set()
                        continue
                    if "error" in msg:
                        assert msg["error"]["code"] == errors.SHUTTING_DOWN, msg
                        answered[msg["id"]] = "shutting_down"
                        stop.set()
                    else:
                        answered[msg["id"]] = "ok"
                    window.release()
            except ConnectionClosed as exc:
                close_code = exc.reason.code

        async with trio.open_nursery() as nursery:
            nursery.start_soon(reader)
            n = 0
            while not stop.is_set():
                await window.acquire()
                if stop.is_set():
                    break
                n += 1
                sent.add(n)
                try:
                    await ws.send_message(orjson.dumps({"jsonrpc": "2.0", "id": n, "method": "system.ping"}).decode())
                except ConnectionClosed:
                    sent.discard(n)
                    break
                if n == 50:
                    started.set()
    report.update(sent=sent, answered=answered, close_code=close_code)


async def test_sigterm_under_load_answers_everything(tmp_path) -> None:
    server = GatewayProcess(tmp_path)
    try:
        reports = [dict() for _ in range(CLIENTS)]
        with trio.fail_after(60):
            async with trio.open_nursery() as nursery:
                events = []
                for report in reports:
                    ev = trio.Event()
                    events.append(ev)
                    nursery.start_soon(pipelined_client, server.url, ev, report)
                for ev in events:
                    await ev.wait()
                server.proc.send_signal(15)
        code = await trio.to_thread.run_sync(server.wait, 60)
    finally:
        server.kill()
    assert code == 0, server.log
    for report in reports:
        assert report["sent"] and report["sent"] == set(report["answered"]), (
            f"unanswered: {sorted(report['sent'] - set(report['answered']))[:10]}")
        assert report["close_code"] == 1001
    log = server.log
    for phase in ("stop-accepting", "drain-connections", "stop-actors", "close-pools"):
        assert f"phase {phase}" in log
    assert "stopped gracefully" in log.strip().splitlines()[-1]


def test_a_taken_port_is_one_clear_line_and_exit_1(tmp_path) -> None:
    import socket
    import subprocess
    import sys

    from tests.support import ROOT

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run([sys.executable, str(ROOT / "main.py"), "serve", "--port", str(port),
                               "--admin-port", "0", "--data-dir", str(tmp_path)],
                              capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert f"cannot start (ws 127.0.0.1:{port}" in done.stderr and "Traceback" not in done.stderr


def test_json_logs_are_one_object_per_line(tmp_path) -> None:
    import json

    server = GatewayProcess(tmp_path, "--log-format", "json")
    try:
        assert server.terminate() == 0
    finally:
        server.kill()
    records = [json.loads(line) for line in server.lines if line.strip()]
    assert any(r["msg"].startswith("listening ws=") and r["ws_port"] for r in records)
    assert records[-1]["msg"] == "stopped gracefully" and records[-1]["level"] == "info"
