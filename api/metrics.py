"""Prometheus metrics of one app (its own registry, so several apps in one process do
not collide): request counts and latencies per route, events appended, reads by the
database that served them, and, read at scrape time, the head of the log, each
projection set's lag and (with a hot standby) the standby's state and lag."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from ledger.projections.sets import SetStatus

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
OTHER_METHOD = "other"
UNMATCHED = "unmatched"

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class StoreCollector(Collector):
    def __init__(self, status: Callable[[], list[SetStatus]]) -> None:
        self.status = status

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("ledger_store_up", "1 when the store answered the scrape")
        try:
            sets = self.status()
        except Exception:
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        head = GaugeMetricFamily("ledger_log_head_position", "log position of the latest event")
        head.add_metric([], sets[0].head if sets else 0)
        yield head
        labels = ["set_id", "policy", "state"]
        position = GaugeMetricFamily(
            "ledger_projection_position", "last log position applied by a projection set",
            labels=labels,
        )
        lag = GaugeMetricFamily(
            "ledger_projection_lag_events", "events in the log not yet applied by a projection set",
            labels=labels,
        )
        for s in sets:
            position.add_metric([s.id, s.policy, s.state], s.position)
            lag.add_metric([s.id, s.policy, s.state], s.lag)
        yield position
        yield lag


REPLICA_STATES = ("ok", "lagging", "paused", "down")
READ_SIDES = ("primary", "replica")


class ReplicaCollector(Collector):
    """The hot standby as /healthz reports it (nothing without one): its state, one
    series per state (1 for the current one), and its lag in positions and seconds."""

    def __init__(self, health: Callable[[], dict[str, Any] | None]) -> None:
        self.health = health

    def collect(self) -> Iterator[Metric]:
        report = self.health()
        if report is None:
            return
        state = GaugeMetricFamily(
            "ledger_replica_state", "1 for the hot standby's current state", labels=["state"]
        )
        for name in REPLICA_STATES:
            state.add_metric([name], 1 if report["state"] == name else 0)
        yield state
        if report.get("lag") is not None:
            yield GaugeMetricFamily(
                "ledger_replica_lag_events", "log positions the standby's read models trail "
                "the primary's by", value=report["lag"],
            )
        if report.get("lag_seconds") is not None:
            yield GaugeMetricFamily(
                "ledger_replica_replay_lag_seconds", "seconds since the standby replayed "
                "what it had received (0 when it has replayed all)", value=report["lag_seconds"],
            )


class Metrics:
    def __init__(
        self,
        status: Callable[[], list[SetStatus]],
        replica: Callable[[], dict[str, Any] | None] | None = None,
    ) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "ledger_http_requests", "HTTP requests by method, route and status",
            ["method", "route", "status"], registry=self.registry,
        )
        self.latency = Histogram(
            "ledger_http_request_duration_seconds", "HTTP request latency by method and route",
            ["method", "route"], buckets=LATENCY_BUCKETS, registry=self.registry,
        )
        self.events = Counter(
            "ledger_events_appended", "events appended to the log through this process",
            registry=self.registry,
        )
        self.reads = Counter(
            "ledger_reads", "reads by the database that answered them (primary or the hot "
            "standby)", ["side"], registry=self.registry,
        )
        self.registry.register(StoreCollector(status))
        if replica is not None:
            self.registry.register(ReplicaCollector(replica))

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count one request. Labels come from a bounded set, so no request can add
        series: a method the app does not know is ``other``, a path no route serves is
        ``unmatched`` (``route`` is the template), a status outside 100-599 is ``other``."""
        method = method if method in METHODS else OTHER_METHOD
        code = str(status) if 100 <= status <= 599 else OTHER_METHOD
        self.requests.labels(method, route, code).inc()
        self.latency.labels(method, route).observe(seconds)

    def served(self, side: str) -> None:
        """Count one read answered by ``side`` (``primary`` or ``replica``)."""
        if side in READ_SIDES:
            self.reads.labels(side).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
