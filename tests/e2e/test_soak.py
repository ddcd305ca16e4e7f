"""The soak of bench/soak.py, short: about a minute of a small population on two nodes
(PostgreSQL + Redis) with a node killed, PostgreSQL and Redis cut off, and a hostile
client; every invariant must hold (the script exits 0)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.support import ROOT


def test_a_short_soak_with_faults_keeps_every_invariant(pg_database: str, redis_url: str) -> None:
    argv = [sys.executable, str(ROOT / "bench" / "soak.py"), "--seconds", "60", "--nodes", "2", "--viewers", "8",
            "--searchers", "2", "--refreshers", "2", "--assigners", "2", "--hostile", "1", "--titles", "400",
            "--fault-every", "10", "--outage", "3", "--redis-url", redis_url]
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=240)
    report = done.stdout[-4000:] + done.stderr[-2000:]
    assert "kill -9 of node" in done.stdout and "PostgreSQL cut off" in done.stdout, report
    assert done.returncode == 0 and "invariants: all hold" in done.stdout, report
