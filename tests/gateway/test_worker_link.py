"""What the main process of `serve --workers N` tells a worker, and the option itself."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gateway.cli import build_parser, config_from_args
from gateway.config import Config
from gateway.workers import Brief


def test_the_brief_carries_the_whole_configuration() -> None:
    config = Config(port=4321, admin_port=4322, data_dir=Path("/tmp/x y"), redis_url="redis://r:6379/1",
                    jwt_secret="s" * 40, rate_limit=0.0, workers=3, worker_restart_period=12.5)
    brief = Brief(2, "/tmp/mg-workers-x/worker-2.sock", config)
    line = brief.encode()
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert Brief.decode(line) == brief


def test_workers_auto_is_the_cores_this_process_may_use() -> None:
    args = build_parser().parse_args(["serve", "--workers", "auto"])
    assert args.workers == len(os.sched_getaffinity(0))
    assert config_from_args(build_parser().parse_args(["serve", "--workers", "3"])).workers == 3
    assert config_from_args(build_parser().parse_args(["serve"])).workers == 1


@pytest.mark.parametrize("value", ["0", "-1", "257", "two"])
def test_a_bad_worker_count_is_refused(value: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit:
        build_parser().parse_args(["serve", "--workers", value])
    assert exit.value.code == 2
    assert "number of workers (1-256, or auto)" in capsys.readouterr().err


def test_the_worker_options_are_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MG_WORKERS", "4")
    monkeypatch.setenv("MG_WORKER_MAX_RESTARTS", "2")
    monkeypatch.setenv("MG_WORKER_RESTART_PERIOD", "30")
    config = config_from_args(build_parser().parse_args(["serve"]))
    assert (config.workers, config.worker_max_restarts, config.worker_restart_period) == (4, 2, 30.0)
