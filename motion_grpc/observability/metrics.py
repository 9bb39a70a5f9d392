"""Every Prometheus metric motion-grpc exports, and the small calls that record them.

Labels name code, never data: methods, status codes, components, flows, ops,
and error types. Never an instance id (there may be millions)
nor anything a caller sends. The hot path records through children looked up
once per label combination (`_Children`), not through `.labels()` per call.

The metrics live in a registry of their own (`REGISTRY`), served by
`start_http_server` on `--metrics-port`; nothing is served unless asked.
Update worker processes record theirs into files the endpoint adds in
(worker_metrics).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, Final, Generic, TypeVar

from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    start_http_server,
)
from prometheus_client.registry import Collector

REGISTRY = CollectorRegistry()
for _standard in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
    REGISTRY.register(_standard)

#: RPC latency buckets (seconds): a cached Run takes about a millisecond, a model call seconds.
_RPC_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
#: Op and update-lag buckets (seconds): from a dict lookup to a minute-long model call or backlog.
_OP_BUCKETS = (0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)

RPC_DURATION = Histogram(
    "motion_rpc_duration_seconds",
    "Server-side RPC latency by method and status code (its _count: RPCs handled)",
    ["method", "code"],
    buckets=_RPC_BUCKETS,
    registry=REGISTRY,
)
#: Gauges of update worker processes are summed over the living ones (see worker_metrics).
_LIVE_SUM: Final = "livesum"
RPCS_IN_FLIGHT = Gauge(
    "motion_rpcs_in_flight", "RPCs being handled now, by method", ["method"], registry=REGISTRY,
    multiprocess_mode=_LIVE_SUM,
)  # fmt: skip
WATCHES_OPEN = Gauge(
    "motion_watches_open", "WatchUpdates streams open now", registry=REGISTRY, multiprocess_mode=_LIVE_SUM
)
OP_DURATION = Histogram(
    "motion_op_duration_seconds",
    "Serve and update op latency by component, flow and op (kind: serve or update)",
    ["kind", "component", "flow", "op", "outcome"],
    buckets=_OP_BUCKETS,
    registry=REGISTRY,
)
OPS_IN_FLIGHT = Gauge("motion_ops_in_flight", "User ops running now (kind: serve or update)", ["kind"],
                      registry=REGISTRY, multiprocess_mode=_LIVE_SUM)  # fmt: skip
UPDATES_APPLIED = Counter(
    "motion_updates_applied_total", "Update entries applied and committed", ["component", "flow", "op"],
    registry=REGISTRY,
)  # fmt: skip
UPDATES_FAILED = Counter(
    "motion_updates_failed_total",
    "Update entries that ended FAILED, by the error type of the op (or AttemptsExhausted, Timeout)",
    ["component", "flow", "op", "error_type"],
    registry=REGISTRY,
)
UPDATES_DISCARDED = Counter(
    "motion_updates_discarded_total",
    "Update entries dropped by their op's discard policy, by reason (superseded or expired)",
    ["component", "flow", "op", "reason"],
    registry=REGISTRY,
)
UPDATE_LAG = Histogram(
    "motion_update_lag_seconds",
    "From an update's enqueue to its commit (applied or failed)",
    ["component", "flow", "op"],
    buckets=_OP_BUCKETS,
    registry=REGISTRY,
)
LEASE_TAKEOVERS = Counter(
    "motion_lease_takeovers_total",
    "Instances this process took over with an update another worker had started and not finished",
    ["component"],
    registry=REGISTRY,
)
M = TypeVar("M")


class _Children(Generic[M]):
    """A metric's children by label values, each looked up in prometheus_client once."""

    def __init__(self, metric: Any) -> None:
        self._metric = metric
        self._children: dict[tuple[str, ...], M] = {}
        self._lock = threading.Lock()

    def __call__(self, *labels: str) -> M:
        child = self._children.get(labels)
        if child is None:
            with self._lock:
                child = self._children.setdefault(labels, self._metric.labels(*labels))
        return child


_rpc_duration: _Children[Any] = _Children(RPC_DURATION)
_rpcs_in_flight: _Children[Any] = _Children(RPCS_IN_FLIGHT)
_op_duration: _Children[Any] = _Children(OP_DURATION)
_ops_in_flight: _Children[Any] = _Children(OPS_IN_FLIGHT)
_applied: _Children[Any] = _Children(UPDATES_APPLIED)
_failed: _Children[Any] = _Children(UPDATES_FAILED)
_discarded: _Children[Any] = _Children(UPDATES_DISCARDED)
_lag: _Children[Any] = _Children(UPDATE_LAG)
_takeovers: _Children[Any] = _Children(LEASE_TAKEOVERS)


def rpc_started(method: str) -> None:
    _rpcs_in_flight(method).inc()
    if method == "WatchUpdates":
        WATCHES_OPEN.inc()


def rpc_ended(method: str, code: str, seconds: float) -> None:
    _rpcs_in_flight(method).dec()
    if method == "WatchUpdates":
        WATCHES_OPEN.dec()
    _rpc_duration(method, code).observe(seconds)


class timed_op:
    """Count an op in flight while it runs, then its latency with its outcome (ok or failed).

    A class rather than a generator-based context manager: it wraps every op of the hot path.
    """

    __slots__ = ("_duration", "_in_flight", "_started")

    def __init__(self, kind: str, component: str, flow: str, op: str) -> None:
        self._in_flight = _ops_in_flight(kind)
        self._duration = (kind, component, flow, op)
        self._started = 0.0

    def __enter__(self) -> None:
        self._in_flight.inc()
        self._started = time.perf_counter()

    def __exit__(self, kind: object, error: object, trace: object) -> None:
        self._in_flight.dec()
        outcome = "ok" if error is None else "failed"
        _op_duration(*self._duration, outcome).observe(time.perf_counter() - self._started)


def update_ended(component: str, flow: str, op: str, error_type: str, enqueued_ms: int) -> None:
    """An entry committed: applied when `error_type` is empty, else failed with that type."""
    if error_type:
        _failed(component, flow, op, error_type).inc()
    else:
        _applied(component, flow, op).inc()
    _lag(component, flow, op).observe(max(0.0, time.time() - enqueued_ms / 1000))


def updates_discarded(component: str, flow: str, op: str, reason: str, count: int) -> None:
    _discarded(component, flow, op, reason).inc(count)


def lease_taken_over(component: str) -> None:
    _takeovers(component).inc()


def serve(port: int, host: str, registry: CollectorRegistry = REGISTRY) -> Any:
    """Serve `registry` on http://host:port/metrics from a thread; the HTTP server (call shutdown)."""
    server, _ = start_http_server(port, host, registry=registry)
    return server


def register(collector: Collector) -> Callable[[], None]:
    """Add a collector (read at each scrape); the function that removes it again."""
    REGISTRY.register(collector)
    return lambda: REGISTRY.unregister(collector)


__all__ = [
    "REGISTRY",
    "lease_taken_over",
    "register",
    "rpc_ended",
    "rpc_started",
    "serve",
    "timed_op",
    "update_ended",
    "updates_discarded",
]
