"""RPC metrics and spans, recorded by one server interceptor around every handler.

It sits outside the error-mapping interceptor, so it sees each call end with
the status that interceptor chose (read from the context after an abort).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
from grpc import aio

from motion_grpc.grpc_handlers import Handler, WrappingInterceptor, rewrapped
from motion_grpc.observability import metrics, tracing

_CODE_NAMES = {code.value[0]: code.name for code in grpc.StatusCode}


def _method_of(full_method: str) -> str:
    """'/motion.v1.MotionService/Run' -> 'Run'; other services keep their service name."""
    service, _, method = full_method.strip("/").partition("/")
    return method if service == "motion.v1.MotionService" else f"{service.rpartition('.')[2]}.{method}"


def _code_of(context: aio.ServicerContext[Any, Any], error: BaseException | None) -> str:
    code = context.code()
    if code is None:
        if error is None:
            return "OK"
        if isinstance(error, asyncio.CancelledError):  # the caller cancelled, or its deadline passed
            return "DEADLINE_EXCEEDED" if _deadline_passed(context) else "CANCELLED"
        return "UNKNOWN"
    if isinstance(code, grpc.StatusCode):
        return code.name
    return _CODE_NAMES.get(code, str(code))


def _deadline_passed(context: aio.ServicerContext[Any, Any]) -> bool:
    remaining = context.time_remaining()
    return remaining is not None and remaining <= 0


class ObservingInterceptor(WrappingInterceptor):
    """Latency and status of every RPC, the calls in flight, and a span per call when tracing is on.

    Health and reflection calls are counted too (an operator wants to see probes), under their
    own service's name.
    """

    def wrap(self, full_method: str, handler: Handler) -> Handler:
        method = _method_of(full_method)
        return rewrapped(
            handler,
            lambda behavior: _observe_unary(behavior, method),
            lambda behavior: _observe_stream(behavior, method),
        )


def _observe_unary(behavior: Callable[..., Awaitable[Any]], method: str) -> Callable[..., Awaitable[Any]]:
    async def observed(request: Any, context: aio.ServicerContext[Any, Any]) -> Any:
        metrics.rpc_started(method)
        started = time.perf_counter()
        error: BaseException | None = None
        try:
            with tracing.rpc_span(method, context.invocation_metadata) as span:
                try:
                    return await behavior(request, context)
                except BaseException as exc:
                    error = exc
                    raise
                finally:
                    _end_span(span, context, error)
        finally:
            metrics.rpc_ended(method, _code_of(context, error), time.perf_counter() - started)

    return observed


def _observe_stream(
    behavior: Callable[..., AsyncIterator[Any]], method: str
) -> Callable[..., AsyncIterator[Any]]:
    async def observed(request: Any, context: aio.ServicerContext[Any, Any]) -> AsyncIterator[Any]:
        metrics.rpc_started(method)
        started = time.perf_counter()
        error: BaseException | None = None
        try:
            with tracing.rpc_span(method, context.invocation_metadata) as span:
                try:
                    async for item in behavior(request, context):
                        yield item
                except BaseException as exc:
                    error = exc
                    raise
                finally:
                    _end_span(span, context, error)
        finally:
            metrics.rpc_ended(method, _code_of(context, error), time.perf_counter() - started)

    return observed


def _end_span(span: Any, context: aio.ServicerContext[Any, Any], error: BaseException | None) -> None:
    if span is not None:
        span.set_attribute("rpc.grpc.status_code", _code_of(context, error))


__all__ = ["ObservingInterceptor"]
