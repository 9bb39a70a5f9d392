"""The one place where exceptions become gRPC statuses on the server.

grpc.aio parses a request before any interceptor or handler runs, and a
parser error would escape as UNKNOWN with an ERROR traceback per call. So
every method's deserializer is wrapped here: a request that does not parse
becomes a `_Malformed` marker, which the wrapped handler answers with
INVALID_ARGUMENT and a rate-limited warning, without running the method.

Every status sent here carries a google.rpc.Status in the
`grpc-status-details-bin` trailer, with one google.rpc.ErrorInfo (reason,
domain, metadata; see motion_grpc.errors.error_info), so clients in any
language match on a reason rather than on a message.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf import any_pb2
from google.protobuf.message import DecodeError
from google.rpc import error_details_pb2, status_pb2
from grpc import aio
from grpc_status import rpc_status

from motion_grpc.errors import (
    ERROR_DOMAIN,
    ERROR_TYPE_METADATA_KEY,
    InvalidArgumentError,
    MotionError,
    OpError,
    error_info,
    status_for,
    wire_message,
)
from motion_grpc.grpc_handlers import Handler, WrappingInterceptor, rewrapped
from motion_grpc.logs import RateLimitedLog

log = logging.getLogger(__name__)
_flood_safe_log = RateLimitedLog(log)

#: Longest parser explanation put into a malformed-request message.
_REASON_LIMIT = 120


@dataclass(frozen=True)
class _Malformed:
    """Stands in for a request whose bytes did not parse."""

    error: InvalidArgumentError


def _tolerant(deserializer: Callable[[bytes], Any] | None, method: str) -> Callable[[bytes], Any] | None:
    """`deserializer`, answering a `_Malformed` marker instead of raising on bad bytes."""
    if deserializer is None:
        return None
    parse = deserializer

    def deserialize(data: bytes) -> Any:
        try:
            return parse(data)
        except Exception as exc:  # DecodeError, or whatever else a parser raises on hostile bytes
            return _Malformed(InvalidArgumentError(f"malformed {method} request: {_reason(exc)}"))

    return deserialize


def _reason(error: Exception) -> str:
    """The parser's own words, without its "Error parsing message with type ...:" preamble."""
    if not isinstance(error, DecodeError):
        return type(error).__name__
    reason = str(error).rpartition("': ")[2]
    if "MaxDepth" in reason or "recursion" in reason.lower():
        return "messages nested too deep for the protobuf parser (100 levels)"
    return reason[:_REASON_LIMIT]


def _method_name(full_method: str) -> str:
    """'/motion.v1.MotionService/Run' -> 'MotionService.Run'."""
    service, _, method = full_method.strip("/").partition("/")
    return f"{service.rpartition('.')[2]}.{method}"


class ErrorMappingInterceptor(WrappingInterceptor):
    """Answer every exception a handler raises with its mapped status and a clear message.

    A user op's exception type travels in trailing metadata; its traceback is
    sent only when the server runs with debug on.
    """

    def __init__(self, debug: bool = False) -> None:
        super().__init__()
        self._debug = debug

    def wrap(self, full_method: str, handler: Handler) -> Handler:
        method = _method_name(full_method)
        return rewrapped(
            handler,
            lambda behavior: self._wrap_unary(behavior, method),
            lambda behavior: self._wrap_stream(behavior, method),
            _tolerant(handler.request_deserializer, method),
        )

    def _wrap_unary(
        self, behavior: Callable[..., Awaitable[Any]], method: str
    ) -> Callable[..., Awaitable[Any]]:
        async def wrapper(request: Any, context: aio.ServicerContext[Any, Any]) -> Any:
            try:
                return await behavior(_parsed(request, context), context)
            except Exception as exc:
                await self._abort(context, exc, method)

        return wrapper

    def _wrap_stream(
        self, behavior: Callable[..., AsyncIterator[Any]], method: str
    ) -> Callable[..., AsyncIterator[Any]]:
        async def wrapper(request: Any, context: aio.ServicerContext[Any, Any]) -> AsyncIterator[Any]:
            try:
                async for item in behavior(_parsed(request, context), context):
                    yield item
            except Exception as exc:
                await self._abort(context, exc, method)

        return wrapper

    async def _abort(self, context: aio.ServicerContext[Any, Any], exc: Exception, method: str) -> None:
        if isinstance(exc, aio.AbortError):
            raise exc
        if not isinstance(exc, (MotionError, NotImplementedError)):
            kind = f"unexpected:{method}"
            _flood_safe_log.log(logging.ERROR, kind, "unexpected error in %s: %s", method, _Traceback(exc))
        code, message = status_for(exc)
        if self._debug:
            message = wire_message(f"{message}\n{_Traceback(exc.__cause__ or exc)}")
        await context.abort(code, message, trailing_metadata=status_trailers(exc, code, message))


def status_trailers(
    error: BaseException, code: grpc.StatusCode, message: str
) -> tuple[tuple[str, str | bytes], ...]:
    """The trailing metadata of an error status: its google.rpc.Status (with an ErrorInfo), and,
    for a failed user op, the `motion-error-type` trailer that older clients read."""
    reason, info_metadata = error_info(error)
    info = error_details_pb2.ErrorInfo(reason=reason, domain=ERROR_DOMAIN, metadata=info_metadata)
    detail = any_pb2.Any()
    detail.Pack(info)
    rich = rpc_status.to_status(status_pb2.Status(code=code.value[0], message=message, details=[detail]))
    trailers: tuple[tuple[str, str | bytes], ...] = tuple(rich.trailing_metadata)
    if isinstance(error, OpError):
        trailers += ((ERROR_TYPE_METADATA_KEY, error.error_type),)
    return trailers


class _Traceback:
    """An exception's traceback, formatted only when a log line or message is written."""

    def __init__(self, error: BaseException) -> None:
        self._error = error

    def __str__(self) -> str:
        return "".join(traceback.format_exception(type(self._error), self._error, self._error.__traceback__))


def _parsed(request: Any, context: aio.ServicerContext[Any, Any]) -> Any:
    """The request, or INVALID_ARGUMENT (with a rate-limited warning) when it did not parse."""
    if isinstance(request, _Malformed):
        _flood_safe_log.warning("malformed-request", "%s (from %s)", request.error.message, context.peer())
        raise request.error
    return request
