"""What a server turns on for operators: reflection, the metrics endpoint, tracing."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from grpc import aio
from grpc_health.v1 import health_pb2
from prometheus_client import CollectorRegistry

from motion_grpc.arg_types import port
from motion_grpc.observability import metrics, reflection, tracing
from motion_grpc.observability.queue_depth import QueueCollector

log = logging.getLogger(__name__)

MOTION_SERVICE = "motion.v1.MotionService"


@dataclass(frozen=True)
class ObservabilityOptions:
    """See `motion-grpc serve --help`."""

    reflection: bool = True
    #: Port of the Prometheus /metrics endpoint; 0: none.
    metrics_port: int = 0
    #: Address of the metrics endpoint; None: the gRPC server's host.
    metrics_host: str | None = None
    #: Spans by OpenTelemetry (also on when OTEL_* variables configure an exporter).
    tracing: bool = False


def add_arguments(serve: argparse.ArgumentParser) -> None:
    serve.add_argument(
        "--no-reflection", dest="reflection", action="store_false",
        help="do not serve gRPC reflection (on by default, so grpcurl can list and describe)",
    )  # fmt: skip
    serve.add_argument("--metrics-port", type=port, default=0,
                       help="serve Prometheus metrics on http://HOST:PORT/metrics (0: off)")  # fmt: skip
    serve.add_argument(
        "--metrics-host", default=None, help="address of the metrics endpoint (default: --host)"
    )
    serve.add_argument(
        "--tracing", action="store_true",
        help="OpenTelemetry spans (needs motion-grpc[tracing]; default: on when OTEL_TRACES_EXPORTER or "
        "OTEL_EXPORTER_OTLP_ENDPOINT is set)",
    )  # fmt: skip
    serve.add_argument("--log-format", choices=("text", "json"), default="text",
                       help="text lines, or one JSON object per line")  # fmt: skip


def options_from(args: argparse.Namespace) -> ObservabilityOptions:
    return ObservabilityOptions(
        args.reflection, args.metrics_port, args.metrics_host or args.host, args.tracing
    )


class MetricsListenError(OSError):
    """The metrics endpoint cannot listen on its address (most often: the port is taken)."""


class Observability:
    """The endpoints started for one server; `close` stops them."""

    def __init__(self) -> None:
        self._closers: list[Callable[[], None]] = []
        self.metrics_port = 0

    def close(self) -> None:
        while self._closers:
            self._closers.pop()()


def attach(
    server: aio.Server,
    options: ObservabilityOptions,
    components: Sequence[str],
    redis_client: Callable[[], Any],
    registry: CollectorRegistry = metrics.REGISTRY,
) -> Observability:
    """Reflection on `server`, the metrics endpoint, tracing: as `options` ask.

    `redis_client` makes the (sync) client read at each scrape for the queue depth.
    """
    observing = Observability()
    if options.reflection:
        reflection.enable(
            server, (MOTION_SERVICE, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name)
        )
    if tracing.wanted(options.tracing) and not tracing.active():
        tracing.enable()
    if options.metrics_port:
        host = options.metrics_host or "127.0.0.1"
        try:
            http = metrics.serve(options.metrics_port, host, registry)
        except OSError as exc:
            raise MetricsListenError(
                exc.errno,
                f"cannot serve metrics on {host}:{options.metrics_port}: "
                f"{exc.strerror or exc} (choose another --metrics-port, or --metrics-host)",
            ) from exc
        observing._closers += [http.server_close, http.shutdown]  # closed in reverse order
        collector = QueueCollector(redis_client(), components)
        observing._closers.append(collector.close)
        observing._closers.append(metrics.register(collector))
        observing.metrics_port = http.server_port
        log.info("metrics on http://%s:%d/metrics", host, observing.metrics_port)
    return observing


__all__ = [
    "MetricsListenError",
    "Observability",
    "ObservabilityOptions",
    "add_arguments",
    "attach",
    "options_from",
]
