"""/metrics of a running gateway, as Prometheus and the operators' files see it:
`promtool check metrics` finds nothing to say, each family has the type its values
behave as, and every metric the alert rules and the dashboard name is exported."""

from __future__ import annotations

import platform
import subprocess
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from gateway.app import VERSION
from mgclient import RpcError as RpcClientError
from tests.support import alert_exprs, connect, dashboard_exprs, http_get, metric_names

# Families and their types: a count that only grows is a counter, a level a gauge.
TYPES = {
    "mg_ws_connections": "gauge",
    "mg_rpc_requests": "counter",
    "mg_rpc_latency_seconds": "histogram",
    "mg_actor_restarts": "counter",
    "mg_actor_crashes": "counter",
    "mg_actor_mailbox_depth": "gauge",
    "mg_dependency_up": "gauge",
    "mg_ready": "gauge",
    "mg_build_info": "gauge",
    "mg_cache_requests": "counter",
    "mg_cache_hit_ratio": "gauge",
    "mg_audit_events": "counter",
    "mg_tokens_state": "gauge",
    "mg_experiments_buffered": "gauge",
    "mg_experiments_lookups": "counter",
    "mg_playback_updates": "counter",
    "mg_playback_updates_coalesced": "counter",
    "mg_playback_flushes": "counter",
    "mg_playback_rows_written": "counter",
    "mg_playback_db_statements": "counter",
    "mg_playback_flush_failures": "counter",
    "mg_playback_unflushed": "gauge",
    "mg_playback_sessions": "gauge",
    "mg_playback_durable_lag_seconds": "histogram",
    "process_cpu_seconds": "counter",
    "process_resident_memory_bytes": "gauge",
    "process_open_fds": "gauge",
    "process_max_fds": "gauge",
    "process_start_time_seconds": "gauge",
}
SUFFIXES = {"counter": ("_total",), "gauge": ("",), "histogram": ("_bucket", "_sum", "_count")}
NOT_OURS = {"up"}  # Prometheus's own, per scrape target


@pytest.fixture
async def scrape(gateway: Any) -> str:
    """/metrics after a few calls, so the per-method families have samples."""
    async with connect(gateway.url) as client:
        await client.call("system.ping")
        with pytest.raises(RpcClientError):
            await client.call("auth.login", {"email": "nobody@example.com", "password": "not the password"})
        with pytest.raises(RpcClientError):
            await client.call("no.such.method")
    status, body = await http_get(gateway.admin + "/metrics")
    assert status == 200
    return body.decode()


def exported(text: str) -> dict[str, str]:
    """Every series name a scrape can hold -> its family's type."""
    names = {}
    for family in text_string_to_metric_families(text):
        for suffix in SUFFIXES.get(family.type, ("",)):
            names[family.name + suffix] = family.type
    return names


async def test_promtool_finds_nothing_to_say_about_the_metrics(scrape: str, promtool: str) -> None:
    done = subprocess.run([promtool, "check", "metrics"], input=scrape, capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout + done.stderr) == (0, "")


async def test_each_family_has_the_type_its_values_behave_as(scrape: str) -> None:
    types = {f.name: f.type for f in text_string_to_metric_families(scrape)}
    assert {name: types.get(name) for name in TYPES} == TYPES
    assert f'mg_build_info{{python="{platform.python_version()}",version="{VERSION}"}} 1.0' in scrape
    assert "mg_ready 1.0" in scrape
    assert 'mg_rpc_requests_total{method="auth.login",outcome="invalid_credentials"} 1.0' in scrape
    # Present from the start at 0, so that increase() sees an actor's first crash.
    assert 'mg_actor_crashes_total{actor="tokens"} 0.0' in scrape
    assert 'mg_actor_restarts_total{actor="playback"} 0.0' in scrape


async def test_every_metric_the_alerts_and_the_dashboard_name_is_exported(scrape: str) -> None:
    names = exported(scrape)
    for source, exprs in (("alert", alert_exprs()), ("dashboard", dashboard_exprs())):
        for where, expr in exprs.items():
            missing = metric_names(expr) - names.keys() - NOT_OURS
            assert not missing, f"{source} {where} names {missing}, which /metrics does not export"
