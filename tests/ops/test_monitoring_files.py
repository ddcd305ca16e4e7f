"""The operators' files in ops/: alert rules that promtool accepts and whose unit tests
pass, and a Grafana dashboard whose every query is valid PromQL. (That every metric they
name is exported by a running gateway: tests/e2e/test_metrics_export.py.)"""

from __future__ import annotations

import subprocess
from pathlib import Path

import orjson
import yaml

from tests.support import ALERT_RULES, ALERT_TESTS, DASHBOARD, alert_exprs, dashboard_exprs, metric_names

# What should wake someone (issue 21): each of these pages.
PAGES = {"GatewayDown", "GatewayNotReady", "GatewayRestartLoop", "ActorCrashLoop", "DependencyDown",
         "PlaybackUnflushedGrowing", "HighErrorRate", "HighLatencyP99"}


def promtool_run(promtool: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([promtool, *args], capture_output=True, text=True, timeout=60)


def test_promtool_accepts_the_alert_rules(promtool: str) -> None:
    done = promtool_run(promtool, "check", "rules", str(ALERT_RULES))
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_alert_rules_unit_tests_pass(promtool: str) -> None:
    done = promtool_run(promtool, "test", "rules", str(ALERT_TESTS))
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_alert_has_a_severity_a_summary_and_a_test_that_fires_it() -> None:
    rules = [r for g in yaml.safe_load(ALERT_RULES.read_text())["groups"] for r in g["rules"]]
    tested = {case["alertname"] for test in yaml.safe_load(ALERT_TESTS.read_text())["tests"]
              for case in test.get("alert_rule_test", []) if case.get("exp_alerts")}
    for rule in rules:
        assert rule["labels"]["severity"] in ("page", "ticket"), rule["alert"]
        assert rule["annotations"]["summary"], rule["alert"]
    names = {r["alert"] for r in rules}
    assert names == tested, f"alerts without a firing test: {names - tested}"
    assert PAGES <= {r["alert"] for r in rules if r["labels"]["severity"] == "page"}


def test_the_dashboard_is_well_formed() -> None:
    doc = orjson.loads(DASHBOARD.read_bytes())
    panels = doc["panels"]
    assert len({p["id"] for p in panels}) == len(panels)
    cells: set[tuple[int, int]] = set()
    for p in panels:
        pos = p["gridPos"]
        assert 0 <= pos["x"] and pos["x"] + pos["w"] <= 24, p["title"]
        mine = {(x, y) for x in range(pos["x"], pos["x"] + pos["w"]) for y in range(pos["y"], pos["y"] + pos["h"])}
        assert not mine & cells, f"{p['title']} overlaps another panel"
        cells |= mine
        if p["type"] != "row":
            assert p["datasource"]["uid"] == "${datasource}", p["title"]
            assert p["targets"] and all(t["expr"] for t in p["targets"]), p["title"]
    assert {v["name"] for v in doc["templating"]["list"]} == {"datasource", "instance"}


def test_every_dashboard_query_is_valid_promql(promtool: str, tmp_path: Path) -> None:
    exprs = list(dashboard_exprs().values())
    rules = {"groups": [{"name": "dashboard", "rules": [
        {"record": f"dashboard:query_{i}", "expr": expr} for i, expr in enumerate(exprs)]}]}
    path = tmp_path / "dashboard_rules.yml"
    path.write_text(yaml.safe_dump(rules))
    done = promtool_run(promtool, "check", "rules", str(path))
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{len(exprs)} rules found" in done.stdout


def test_metric_names_are_read_from_promql() -> None:
    expr = ('histogram_quantile(0.99, sum by (job, le) (rate(mg_rpc_latency_seconds_bucket{method!~"auth\\\\.x"}[5m])))'
            ' > 0.25 and on (instance) sum(rate(mg_rpc_requests_total[5m])) by (method) > 1'
            ' or time() - process_start_time_seconds{job="g"} > 1e3 unless up == 0')
    assert metric_names(expr) == {"mg_rpc_latency_seconds_bucket", "mg_rpc_requests_total",
                                  "process_start_time_seconds", "up"}
    assert "mg_ready" in metric_names(alert_exprs()["GatewayNotReady"])
