"""ShutdownCoordinator: phase order, phase deadlines, overall timeout, idempotence."""

from __future__ import annotations

import logging
from typing import Any

import pytest
import trio

from runtime import ShutdownCoordinator


def sleeper(log: list[str], name: str, seconds: float):
    async def task() -> None:
        log.append(f"{name} start")
        await trio.sleep(seconds)
        log.append(f"{name} end")

    return task


async def test_phases_run_in_order_and_tasks_of_a_phase_concurrently(
    autojump_clock, caplog
) -> None:
    caplog.set_level(logging.INFO, logger="runtime")
    log: list[str] = []
    events: list[dict[str, Any]] = []
    coord = ShutdownCoordinator(60, on_event=events.append)
    coord.add_phase("stop-accepting", 5)
    coord.add_phase("drain", 5)
    coord.add_phase("close", 5)
    coord.add_task("close", "pool", sleeper(log, "pool", 1))
    coord.add_task("drain", "requests", sleeper(log, "requests", 2))
    coord.add_task("drain", "sessions", sleeper(log, "sessions", 3))
    coord.add_task("stop-accepting", "listener", sleeper(log, "listener", 1))
    start = trio.current_time()
    assert await coord.run() is True
    assert trio.current_time() - start == pytest.approx(1 + 3 + 1)
    assert log[0] == "listener start" and log[1] == "listener end"
    assert sorted(log[2:4]) == ["requests start", "sessions start"]
    assert log[4:] == ["requests end", "sessions end", "pool start", "pool end"]
    assert coord.phases == ["stop-accepting", "drain", "close"]
    messages = [r.getMessage() for r in caplog.records if r.name == "runtime"]
    assert "shutdown phase drain started" in messages
    assert "shutdown phase drain done (took 3.000 s)" in messages
    took = {e["phase"]: e["took"] for e in events if e["event"] == "shutdown.phase_done"}
    assert took == pytest.approx({"stop-accepting": 1, "drain": 3, "close": 1})


async def test_phase_past_its_deadline_is_cancelled_and_shutdown_goes_on(
    autojump_clock, caplog
) -> None:
    log: list[str] = []
    coord = ShutdownCoordinator(60)
    coord.add_phase("flush", 2)
    coord.add_phase("close", 5)
    coord.add_task("flush", "stuck", sleeper(log, "stuck", 100))
    coord.add_task("flush", "quick", sleeper(log, "quick", 1))
    coord.add_task("close", "pool", sleeper(log, "pool", 1))
    start = trio.current_time()
    assert await coord.run() is False
    assert trio.current_time() - start == pytest.approx(2 + 1)
    assert "stuck end" not in log
    assert log[-2:] == ["pool start", "pool end"] and "quick end" in log
    timeouts = [r for r in caplog.records if getattr(r, "event", None) == "shutdown.phase_timeout"]
    assert len(timeouts) == 1 and timeouts[0].tasks == ["stuck"]


async def test_overall_timeout_cancels_everything_left(autojump_clock) -> None:
    log: list[str] = []
    events: list[dict[str, Any]] = []
    coord = ShutdownCoordinator(4, on_event=events.append)
    coord.add_phase("one", 3)
    coord.add_phase("two", 3)
    coord.add_phase("three", 3)
    coord.add_task("one", "a", sleeper(log, "a", 2))
    coord.add_task("two", "b", sleeper(log, "b", 2.5))
    coord.add_task("three", "c", sleeper(log, "c", 1))
    start = trio.current_time()
    assert await coord.run() is False
    assert trio.current_time() - start == pytest.approx(4)
    assert log == ["a start", "a end", "b start"]
    [timeout] = [e for e in events if e["event"] == "shutdown.timeout"]
    assert timeout["phases"] == ["two", "three"]


async def test_failing_task_makes_result_false_but_shutdown_continues(autojump_clock) -> None:
    log: list[str] = []

    async def broken() -> None:
        raise RuntimeError("flush failed")

    coord = ShutdownCoordinator(10)
    coord.add_phase("flush", 2)
    coord.add_phase("close", 2)
    coord.add_task("flush", "broken", broken)
    coord.add_task("flush", "ok", sleeper(log, "ok", 1))
    coord.add_task("close", "pool", sleeper(log, "pool", 1))
    assert await coord.run() is False
    assert log == ["ok start", "ok end", "pool start", "pool end"]


async def test_second_run_waits_for_the_first(autojump_clock) -> None:
    log: list[str] = []
    coord = ShutdownCoordinator(10)
    coord.add_phase("only", 5)
    coord.add_task("only", "t", sleeper(log, "t", 2))
    results: list[tuple[bool, float]] = []

    async def run() -> None:
        ok = await coord.run()
        results.append((ok, trio.current_time()))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(run)
        nursery.start_soon(run)
    assert log == ["t start", "t end"]
    assert [ok for ok, _ in results] == [True, True]
    assert results[0][1] == pytest.approx(results[1][1])
    assert await coord.run() is True
    with pytest.raises(RuntimeError):
        coord.add_task("only", "late", sleeper(log, "late", 1))


async def test_misuse_is_refused() -> None:
    coord = ShutdownCoordinator(10)
    coord.add_phase("a", 1)
    with pytest.raises(ValueError):
        coord.add_phase("a", 1)
    with pytest.raises(LookupError):
        coord.add_task("missing", "t", sleeper([], "t", 0))
    assert await ShutdownCoordinator(1).run() is True  # no phases: nothing to do
