"""Merging the expositions of the main process and its workers, with values."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from gateway.workers.merge import merge, parse


def exposition(connections: float, calls: float, latency: float) -> list:  # type: ignore[type-arg]
    registry = CollectorRegistry()
    Gauge("mg_ws_connections", "Open WebSocket connections", registry=registry).set(connections)
    Counter("mg_rpc_requests", "calls", ["method"], registry=registry).labels("system.ping").inc(calls)
    Histogram("mg_rpc_latency_seconds", "latency", ["method"], buckets=(0.001, 0.01),
              registry=registry).labels("system.ping").observe(latency)
    return parse(generate_latest(registry).decode())


def samples(text: bytes) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text.decode()) for s in family.samples}


def test_every_sample_is_labelled_with_its_process_and_each_family_written_once() -> None:
    text = merge({"1": exposition(3, 10, 0.0005), "2": exposition(4, 20, 0.005)})
    assert text.count(b"# TYPE mg_ws_connections gauge") == 1
    assert text.count(b"# TYPE mg_rpc_requests_total counter") == 1
    assert text.count(b"# TYPE mg_rpc_latency_seconds histogram") == 1
    got = samples(text)
    assert got[("mg_ws_connections", (("worker", "1"),))] == 3
    assert got[("mg_ws_connections", (("worker", "2"),))] == 4
    assert got[("mg_rpc_requests_total", (("method", "system.ping"), ("worker", "2")))] == 20
    assert got[("mg_rpc_latency_seconds_bucket", (("le", "0.001"), ("method", "system.ping"), ("worker", "1")))] == 1
    assert got[("mg_rpc_latency_seconds_bucket", (("le", "0.001"), ("method", "system.ping"), ("worker", "2")))] == 0
    assert got[("mg_rpc_latency_seconds_count", (("method", "system.ping"), ("worker", "2")))] == 1


def test_a_sample_that_names_its_worker_keeps_it() -> None:
    registry = CollectorRegistry()
    Gauge("mg_worker_up", "up", ["worker"], registry=registry).labels("2").set(0)
    text = merge({"main": parse(generate_latest(registry).decode()), "1": exposition(1, 1, 0.1)})
    assert samples(text)[("mg_worker_up", (("worker", "2"),))] == 0


def test_a_family_of_another_type_under_the_same_name_is_left_out() -> None:
    registry = CollectorRegistry()
    Counter("mg_ws_connections", "not a gauge here", registry=registry).inc(5)
    text = merge({"1": exposition(2, 1, 0.1), "2": parse(generate_latest(registry).decode())})
    got = samples(text)
    assert got[("mg_ws_connections", (("worker", "1"),))] == 2
    assert not [key for key in got if key[0].startswith("mg_ws_connections") and ("worker", "2") in key[1]]


def test_text_that_is_no_exposition_is_refused() -> None:
    import pytest

    with pytest.raises(ValueError):
        parse("mg_ws_connections{worker= 3\n")
