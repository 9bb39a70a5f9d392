"""The one place where exceptions become gRPC statuses on the server."""

from __future__ import annotations

import logging
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
from grpc import aio

from motion_grpc.errors import ERROR_TYPE_METADATA_KEY, MotionError, OpError, status_for

log = logging.getLogger(__name__)


class ErrorMappingInterceptor(aio.ServerInterceptor):  # type: ignore[type-arg]
    """Answer every exception a handler raises with its mapped status and a clear message.

    A user op's exception type travels in trailing metadata; its traceback is
    sent only when the server runs with debug on.
    """

    def __init__(self, debug: bool = False) -> None:
        self._debug = debug

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any]]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any]:
        handler = await continuation(handler_call_details)
        if handler is None:
            return None
        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(
                self._wrap_unary(handler.unary_unary),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.unary_stream is not None:
            return grpc.unary_stream_rpc_method_handler(
                self._wrap_stream(handler.unary_stream),  # type: ignore[arg-type]
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        return handler

    def _wrap_unary(self, behavior: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        async def wrapper(request: Any, context: aio.ServicerContext[Any, Any]) -> Any:
            try:
                return await behavior(request, context)
            except Exception as exc:
                await self._abort(context, exc)

        return wrapper

    def _wrap_stream(self, behavior: Callable[..., AsyncIterator[Any]]) -> Callable[..., AsyncIterator[Any]]:
        async def wrapper(request: Any, context: aio.ServicerContext[Any, Any]) -> AsyncIterator[Any]:
            try:
                async for item in behavior(request, context):
                    yield item
            except Exception as exc:
                await self._abort(context, exc)

        return wrapper

    async def _abort(self, context: aio.ServicerContext[Any, Any], exc: Exception) -> None:
        if isinstance(exc, aio.AbortError):
            raise exc
        code, message = status_for(exc)
        if not isinstance(exc, (MotionError, NotImplementedError)):
            log.exception("unexpected error in %s", type(exc).__name__)
        metadata: list[tuple[str, str]] = []
        if isinstance(exc, OpError):
            metadata.append((ERROR_TYPE_METADATA_KEY, exc.error_type))
        if self._debug:
            cause = exc.__cause__ or exc
            trace = "".join(traceback.format_exception(type(cause), cause, cause.__traceback__))
            message = f"{message}\n{trace}"
        await context.abort(code, message, trailing_metadata=tuple(metadata))
