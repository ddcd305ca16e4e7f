"""What each domain shows on /metrics, read from its facade at scrape time."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from actors.experiments import ExperimentsDomain
from actors.playback import PlaybackDomain
from actors.playback.actor import FlushObserver
from actors.tokens import TokensDomain
from gateway.metrics import Metrics

# Fine around 1 s, the default interval: each row's oldest update waits about that long.
LAG_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0, 1.01, 1.02, 1.05, 1.1, 1.25, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0)


def playback_lag(metrics: Metrics) -> FlushObserver:
    """The playback actor's `on_flush`: how long each written row's oldest update waited."""
    lag = Histogram("mg_playback_durable_lag_seconds",
                    "Seconds from a position update's arrival until it is durable (oldest update per row)",
                    buckets=LAG_BUCKETS, registry=metrics.registry)

    def on_flush(rows: int, waits: list[float]) -> None:
        for seconds in waits:
            lag.observe(seconds)

    return on_flush


def watch_experiments(metrics: Metrics, experiments: ExperimentsDomain) -> None:
    table = experiments.table.state
    metrics.add_callback_gauge(
        "mg_experiments_buffered", "First assignments and cached answers held in memory", "kind",
        lambda: [("pending", float(table.pending_count())), ("unwritten", float(table.unwritten_count())),
                 ("cached", float(table.cached_count()))])
    metrics.add_callback_counter(
        "mg_experiments_lookups", "Assignments that needed a storage read", ("kind",),
        lambda: [(("recorded_variant",), float(table.lookups))])
    metrics.add_callback_counter(
        "mg_experiments_unrecorded", "First answers given but not recorded: past the quota of callers "
        "not vouched for, by the limit (connection, node)", ("limit",),
        lambda: [((limit,), float(n)) for limit, n in table.quota.refused.items()])


def watch_tokens(metrics: Metrics, tokens: TokensDomain) -> None:
    revoked = tokens.guard.state.revoked
    limiter = tokens.accounts.hashes.limiter
    registrations = tokens.accounts.registrations
    metrics.add_callback_counter(
        "mg_tokens_registrations_refused", "auth.register refused past the node's rate of new accounts", (),
        lambda: [((), float(registrations.refused["node"]))])
    metrics.add_callback_gauge(
        "mg_tokens_state", "Revoked families held in memory; password hashes running and waiting", "what",
        lambda: [("revoked_families", float(len(revoked))),
                 ("hashes_running", float(limiter.borrowed_tokens)),
                 ("hashes_waiting", float(limiter.statistics().tasks_waiting))])


class _Playback(Collector):
    """The playback actor's counters at scrape time."""

    def __init__(self, playback: PlaybackDomain) -> None:
        self.playback = playback

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        stats, intake, sync = self.playback.stats, self.playback.intake.state, self.playback.sync.state
        for name, doc, value in (
            ("mg_playback_sync_published", "Messages of playback changes sent to the other nodes", sync.published),
            ("mg_playback_sync_received", "Playback changes received from the other nodes", sync.received),
            ("mg_playback_sync_dropped", "Playback changes not sent: too many waiting", sync.dropped),
            ("mg_playback_updates", "Position updates accepted", intake.received),
            ("mg_playback_updates_coalesced", "Updates replaced by a newer one before the actor took them",
             intake.coalesced),
            ("mg_playback_flushes", "Batched writes of positions", stats.flushes),
            ("mg_playback_rows_written", "Position rows written by flushes", stats.rows_written),
            ("mg_playback_db_statements", "Statements the playback actor sent to storage", stats.statements),
            ("mg_playback_flush_failures", "Failed batched writes (retried)", stats.flush_failures),
        ):
            family = CounterMetricFamily(name, doc)
            family.add_metric([], value)
            yield family
        for name, doc, value in (
            ("mg_playback_unflushed", "Positions received and not yet durable",
             len(intake.pending) + stats.unflushed),
            ("mg_playback_sessions", "Open playback sessions on this node", stats.sessions),
        ):
            gauge = GaugeMetricFamily(name, doc)
            gauge.add_metric([], value)
            yield gauge


def watch_playback(metrics: Metrics, playback: PlaybackDomain) -> None:
    metrics.registry.register(_Playback(playback))
