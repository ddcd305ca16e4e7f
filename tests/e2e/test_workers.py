"""`serve --workers 2` as real processes: one port served by both workers, a killed
worker started again, SIGTERM drained by every worker, repeated crashes past the
restart intensity, `/metrics` and `/readyz` of the main process covering both."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
from contextlib import AsyncExitStack
from pathlib import Path

import trio
from prometheus_client.parser import text_string_to_metric_families

from tests.auth_helpers import create_user_cli, fresh_email, login
from tests.e2e.test_shutdown import CLIENTS, pipelined_client
from tests.services import pg_database, pg_url, redis_url  # noqa: F401
from tests.support import ROOT, GatewayProcess, connect, http_get, wait_until

WORKER_LINE = re.compile(r"gateway\.workers: worker (started|ready) worker=(\d+) pid=(\d+)")


def start(tmp_path: Path, redis: str, *args: str) -> GatewayProcess:
    return GatewayProcess(tmp_path, "--workers", "2", "--redis-url", redis, *args)


def pids(server: GatewayProcess, what: str = "ready") -> dict[int, list[int]]:
    """Worker number -> the pids it had, in order, from the main process's log lines."""
    found: dict[int, list[int]] = {}
    for line in list(server.lines):
        m = WORKER_LINE.search(line)
        if m and m.group(1) == what:
            found.setdefault(int(m.group(2)), []).append(int(m.group(3)))
    return found


async def scrape(server: GatewayProcess, path: str = "/metrics") -> tuple[int, str]:
    status, body = await http_get(server.admin + path)
    return status, body.decode()


def by_worker(metrics: str, sample: str) -> dict[str, float]:
    """The values of the samples named `sample`, by their `worker` label."""
    return {s.labels["worker"]: s.value for family in text_string_to_metric_families(metrics)
            for s in family.samples if s.name == sample}


async def wait_log(server: GatewayProcess, predicate, timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    await trio.to_thread.run_sync(wait_until, predicate, timeout)


async def test_two_workers_share_the_port_and_act_as_nodes(tmp_path: Path, redis_url: str,  # noqa: F811
                                                           promtool: str) -> None:
    admin_email = fresh_email("admin")
    create_user_cli("--data-dir", str(tmp_path), email=admin_email, admin=True)  # migrates the fresh database
    server = start(tmp_path, redis_url)
    try:
        log = server.log
        assert log.count("listening ws=") == 1, log
        ready = pids(server)
        assert sorted(ready) == [1, 2] and ready[1] != ready[2], log

        admin = await login(server.url, admin_email)
        async with AsyncExitStack() as stack:
            clients = [await stack.enter_async_context(connect(server.url)) for _ in range(24)]
            for client in clients:
                assert await client.call("system.ping") == {"pong": True}
            status, metrics = await scrape(server)
            assert status == 200
            connections = by_worker(metrics, "mg_ws_connections")
            # SO_REUSEPORT spreads connections by a hash of their addresses: all 24 on one
            # worker would be a 1-in-8-million chance.
            assert set(connections) == {"1", "2"} and sum(connections.values()) == 24, connections
            assert min(connections.values()) >= 1, connections
            assert set(by_worker(metrics, "process_cpu_seconds_total")) == {"main", "1", "2"}
            assert by_worker(metrics, "mg_worker_up") == {"1": 1.0, "2": 1.0}
            assert by_worker(metrics, "mg_ready") == {"main": 1.0, "1": 1.0, "2": 1.0}
            checked = subprocess.run([promtool, "check", "metrics"], input=metrics, capture_output=True, text=True)
            assert "error" not in (checked.stdout + checked.stderr).lower(), checked.stdout + checked.stderr

            # Each worker is a node: a title written through one is found through both.
            async with connect(server.url, admin["access_token"]) as writer:
                await writer.call("content.upsert", {"items": [
                    {"id": "wk1", "title": "Quixotic Workers", "type": "movie", "year": 2001}]})
            with trio.fail_after(10):
                for client in clients:
                    while (await client.call("search.query", {"query": "quixotic"}))["total"] != 1:
                        await trio.sleep(0.05)
        assert (await scrape(server, "/readyz"))[0] == 200

        # Another gateway cannot join the port this one holds.
        taken = subprocess.run([sys.executable, str(ROOT / "main.py"), "serve", "--workers", "2",
                                "--redis-url", redis_url, "--port", server.url.rsplit(":", 1)[1].split("/")[0],
                                "--admin-port", "0", "--data-dir", str(tmp_path / "second")],
                               capture_output=True, text=True, timeout=60)
        assert taken.returncode == 1 and "cannot start (ws 127.0.0.1:" in taken.stderr, taken.stderr
        assert "Traceback" not in taken.stderr
    finally:
        server.kill()
    # create-user migrated the database: neither the main process nor a worker had anything to do.
    assert not [line for line in server.lines if "applied migration" in line], server.log


async def test_migrations_run_once_before_the_workers(tmp_path: Path, redis_url: str) -> None:  # noqa: F811
    server = start(tmp_path, redis_url, "--log-format", "json")
    try:
        records = [json.loads(line) for line in list(server.lines) if line.strip()]
        applied = [i for i, r in enumerate(records) if r["msg"].startswith("applied migration")]
        first_worker = next(i for i, r in enumerate(records) if r["msg"] == "worker started")
        assert applied and max(applied) < first_worker, server.log
        assert not any("worker" in records[i] for i in applied), server.log
        names = [records[i]["migration"] for i in applied]
        assert len(names) == len(set(names)), names
        assert {r["worker"] for r in records if r["logger"] == "runtime"} == {1, 2}  # each worker's lines say whose
    finally:
        assert server.terminate(60) == 0, server.log
    records = [json.loads(line) for line in server.lines if line.strip()]
    assert records[-1]["msg"] == "stopped gracefully" and "worker" not in records[-1], records[-1]
    assert sorted(r["worker"] for r in records if r["msg"] == "stopped gracefully" and "worker" in r) == [1, 2]


async def test_a_killed_worker_is_restarted_and_logged(tmp_path: Path, redis_url: str) -> None:  # noqa: F811
    server = start(tmp_path, redis_url)
    try:
        first = pids(server)[1][0]
        os.kill(first, signal.SIGKILL)
        await wait_log(server, lambda: len(pids(server).get(1, [])) == 2)
        again = pids(server)[1][1]
        assert again != first
        log = server.log
        assert re.search(rf"worker 1 was killed by SIGKILL; restarting in [\d.]+ s .* worker=1 pid={first} "
                         r"exit_code=-9", log), log
        assert log.count("listening ws=") == 1
        for _ in range(8):
            async with connect(server.url) as client:
                assert await client.call("system.ping") == {"pong": True}
        assert (await scrape(server, "/readyz"))[0] == 200
        metrics = (await scrape(server))[1]
        assert by_worker(metrics, "mg_worker_restarts_total") == {"1": 1.0, "2": 0.0}
        assert by_worker(metrics, "mg_worker_up") == {"1": 1.0, "2": 1.0}
        assert server.proc.poll() is None
    finally:
        assert server.terminate(60) == 0, server.log


async def test_sigterm_drains_every_worker(tmp_path: Path, pg_url: str, redis_url: str) -> None:  # noqa: F811
    server = start(tmp_path, redis_url, "--database-url", pg_url)
    try:
        reports = [dict() for _ in range(CLIENTS * 3)]  # 24: all on one worker is a 1-in-8-million chance
        with trio.fail_after(60):
            async with trio.open_nursery() as nursery:
                events = []
                for report in reports:
                    ev = trio.Event()
                    events.append(ev)
                    nursery.start_soon(pipelined_client, server.url, ev, report)
                for ev in events:
                    await ev.wait()
                connections = by_worker((await scrape(server))[1], "mg_ws_connections")
                assert min(connections.values()) >= 1 and sum(connections.values()) == len(reports), connections
                server.proc.send_signal(signal.SIGTERM)
                await wait_log(server, lambda: "received SIGTERM, stopping 2 workers" in server.log)
                assert (await scrape(server, "/readyz"))[0] == 503
        code = await trio.to_thread.run_sync(server.wait, 60)
    finally:
        server.kill()
    assert code == 0, server.log
    for report in reports:
        assert report["sent"] and report["sent"] == set(report["answered"]), (
            f"unanswered: {sorted(report['sent'] - set(report['answered']))[:10]}")
        assert report["close_code"] == 1001
    lines = [line for line in server.lines if line.strip()]
    for n in (1, 2):
        assert any("stopped gracefully" in line and f"worker={n}" in line for line in lines), server.log
    assert "gateway.workers: stopped gracefully" in lines[-1], lines[-5:]


async def test_crashes_past_the_intensity_stop_the_whole(tmp_path: Path, redis_url: str) -> None:  # noqa: F811
    server = start(tmp_path, redis_url, "--worker-max-restarts", "1", "--worker-restart-period", "120")
    try:
        os.kill(pids(server)[1][0], signal.SIGKILL)
        await wait_log(server, lambda: len(pids(server).get(1, [])) == 2)
        os.kill(pids(server)[1][1], signal.SIGKILL)
        code = await trio.to_thread.run_sync(server.wait, 60)
    finally:
        server.kill()
    assert code == 1, server.log
    log = server.log
    assert "worker 1 was killed by SIGKILL; more than 1 restart(s) within 120 s: giving up" in log, log
    assert any("stopped gracefully" in line and "worker=2" in line for line in server.lines), log
    assert "gave up: worker 1" in [line for line in server.lines if line.strip()][-1]


def test_several_workers_need_redis(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "MG_WORKERS")}
    done = subprocess.run([sys.executable, str(ROOT / "main.py"), "serve", "--workers", "2", "--port", "0",
                           "--admin-port", "0", "--data-dir", str(tmp_path)],
                          capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == 2
    assert "--workers 2 needs --redis-url (REDIS_URL)" in done.stderr, done.stderr
    assert not (tmp_path / "gateway.db").exists()  # refused before touching anything


def test_a_taken_port_stops_the_main_process_at_once(tmp_path: Path, redis_url: str) -> None:  # noqa: F811
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run([sys.executable, str(ROOT / "main.py"), "serve", "--workers", "2", "--redis-url",
                               redis_url, "--port", str(port), "--admin-port", "0", "--data-dir", str(tmp_path)],
                              capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert f"cannot start (ws 127.0.0.1:{port}" in done.stderr and "Traceback" not in done.stderr, done.stderr
    assert "worker started" not in done.stderr
