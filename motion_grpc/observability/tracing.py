"""OpenTelemetry spans for RPCs, serve ops and update ops; off unless configured.

Install the extra (`pip install motion-grpc[tracing]`) and turn it on with
`--tracing` or the standard variables (OTEL_TRACES_EXPORTER, or
OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT); OTEL_SDK_DISABLED=true wins. Off, every
call here is one check of a module flag.

A run's trace reaches the updates it enqueued through Redis: the W3C
traceparent of the span current at enqueue time rides in front of the queue
entry's payload (`carry`), and the replica that applies the entry, this one
or another, makes its update span a child of it (`carried`). An entry without
one (tracing off where it was enqueued) has no prefix, and costs nothing.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any

#: Marks a payload that starts with a traceparent: no codec output starts with a NUL byte.
_PREFIX = b"\x00tp\x00"
_TRACEPARENT_LENGTH = 55  # version 00: 2 + 1 + 32 + 1 + 16 + 1 + 2
_CARRIED = len(_PREFIX) + _TRACEPARENT_LENGTH
_TRACEPARENT = re.compile(rb"00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}")
_ENABLING_ENV = ("OTEL_TRACES_EXPORTER", "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
_TRACER_NAME = "motion_grpc"

_tracer: Any = None  # an opentelemetry Tracer once tracing is on


_NOT_INSTALLED = "tracing needs OpenTelemetry: pip install 'motion-grpc[tracing]'"


class TracingUnavailableError(RuntimeError):
    """Tracing was asked for but OpenTelemetry is not installed."""


def wanted(flag: bool, env: Mapping[str, str] = os.environ) -> bool:
    """Whether tracing is asked for: by the flag, or by the standard OTEL_* variables."""
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    exporter = env.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if exporter == "none":
        return flag
    return flag or any(env.get(name, "").strip() for name in _ENABLING_ENV)


def check_available() -> None:
    """TracingUnavailableError when OpenTelemetry is not installed: asked before serving processes
    start, so the server refuses once rather than in each of them."""
    try:
        import opentelemetry.trace  # noqa: F401
    except ImportError as exc:
        raise TracingUnavailableError(_NOT_INSTALLED) from exc


def enable(provider: Any = None) -> None:
    """Turn tracing on with `provider`, else the global one (built from OTEL_* when none is set)."""
    global _tracer
    try:
        from opentelemetry import trace
    except ImportError as exc:
        raise TracingUnavailableError(_NOT_INSTALLED) from exc
    if provider is None:
        provider = _global_provider(trace)
    _tracer = provider.get_tracer(_TRACER_NAME)


def disable() -> None:
    global _tracer
    _tracer = None


def _global_provider(trace: Any) -> Any:
    """The application's tracer provider; a new SDK one exporting by OTLP when there is none."""
    provider = trace.get_tracer_provider()
    if not isinstance(provider, trace.ProxyTracerProvider):
        return provider
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": "motion-grpc"}))
    provider.add_span_processor(BatchSpanProcessor(_exporter()))
    trace.set_tracer_provider(provider)
    return provider


def _exporter() -> Any:
    if os.environ.get("OTEL_TRACES_EXPORTER", "").strip().lower() == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        return ConsoleSpanExporter()
    try:
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    except ImportError as exc:
        raise TracingUnavailableError(
            "the OTLP exporter is missing: pip install 'motion-grpc[tracing]'"
        ) from exc
    return OTLPSpanExporter()


def active() -> bool:
    return _tracer is not None


_NO_SPAN: AbstractContextManager[Any] = nullcontext()


def rpc_span(method: str, metadata: Callable[[], Any]) -> AbstractContextManager[Any]:
    """A server span for one RPC, child of the caller's span when its metadata carries one.

    With tracing off it is one shared context manager, and `metadata` is never called:
    every call of the server goes through here.
    """
    return _NO_SPAN if _tracer is None else _rpc_span(method, metadata())


@contextmanager
def _rpc_span(method: str, metadata: Any) -> Iterator[Any]:
    from opentelemetry import trace
    from opentelemetry.propagate import extract

    carrier = {key: value for key, value in metadata or () if isinstance(value, str)}
    with _tracer.start_as_current_span(
        f"motion.v1.MotionService/{method}",
        context=extract(carrier),
        kind=trace.SpanKind.SERVER,
        attributes={"rpc.system": "grpc", "rpc.service": "motion.v1.MotionService", "rpc.method": method},
    ) as span:
        yield span


@contextmanager
def op_span(kind: str, component: str, flow: str, op: str, parent: bytes | None = None) -> Iterator[None]:
    """A span for one serve or update op; an update's parent is the traceparent its entry carried."""
    if _tracer is None:
        yield
        return
    context = None
    if parent is not None:
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        context = TraceContextTextMapPropagator().extract({"traceparent": parent.decode()})
    attributes = {"motion.component": component, "motion.flow": flow, "motion.op": op}
    with _tracer.start_as_current_span(f"{kind} {component}/{flow}/{op}", context=context,
                                       attributes=attributes):  # fmt: skip
        yield


def carry(payload: bytes) -> bytes:
    """`payload` with the current span's traceparent in front, when tracing is on and a span is current."""
    if _tracer is None:
        return payload
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    carrier: dict[str, str] = {}
    TraceContextTextMapPropagator().inject(carrier)
    traceparent = carrier.get("traceparent", "").encode()
    if not _TRACEPARENT.fullmatch(traceparent):
        return payload
    return _PREFIX + traceparent + payload


def carried(payload: bytes) -> bytes | None:
    """The traceparent a payload carries, if it carries a well-formed one."""
    if not payload.startswith(_PREFIX):
        return None
    traceparent = payload[len(_PREFIX) : _CARRIED]
    return traceparent if _TRACEPARENT.fullmatch(traceparent) else None


def strip(payload: bytes) -> bytes:
    """`payload` without the traceparent `carry` may have put in front (every reader calls this)."""
    return payload[_CARRIED:] if payload.startswith(_PREFIX) else payload


__all__ = [
    "TracingUnavailableError",
    "active",
    "carried",
    "carry",
    "check_available",
    "disable",
    "enable",
    "op_span",
    "rpc_span",
    "strip",
    "wanted",
]
