"""Interceptors' wrapped handlers are built once per method, consecutive wrapping interceptors
run as one, and the server keeps only generic handlers."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
from grpc import aio

from motion_grpc.grpc_handlers import (
    GenericOnly,
    Handler,
    WrappedHandlers,
    WrappingInterceptor,
    chained,
    rewrapped,
)


async def _echo(request: Any, context: Any) -> Any:
    return request


def _handler() -> grpc.RpcMethodHandler[Any, Any]:
    return grpc.unary_unary_rpc_method_handler(_echo)


def test_a_method_is_wrapped_once_while_its_handler_stays_the_same() -> None:
    wrapped, built = WrappedHandlers(), []

    def wrap(method: str, handler: grpc.RpcMethodHandler[Any, Any]) -> grpc.RpcMethodHandler[Any, Any]:
        built.append(method)
        return grpc.unary_unary_rpc_method_handler(handler.unary_unary)

    run, get = _handler(), _handler()
    first = wrapped.get("/s/Run", run, wrap)
    assert wrapped.get("/s/Run", run, wrap) is first
    assert wrapped.get("/s/GetState", get, wrap) is not first
    assert built == ["/s/Run", "/s/GetState"]


def test_a_handler_made_for_one_call_replaces_its_methods_entry() -> None:
    """An auth refusal is built per call: it is wrapped afresh and never served to the next caller."""
    wrapped = WrappedHandlers()

    def wrap(method: str, handler: grpc.RpcMethodHandler[Any, Any]) -> grpc.RpcMethodHandler[Any, Any]:
        return grpc.unary_unary_rpc_method_handler(handler.unary_unary)

    allowed, refusal = _handler(), _handler()
    for_allowed = wrapped.get("/s/Run", allowed, wrap)
    for_refusal = wrapped.get("/s/Run", refusal, wrap)
    assert for_refusal is not for_allowed
    assert for_refusal.unary_unary is refusal.unary_unary
    again = wrapped.get("/s/Run", allowed, wrap)
    assert again.unary_unary is allowed.unary_unary
    assert len(wrapped._by_method) == 1


def test_generic_only_passes_generic_handlers_and_drops_registered_ones() -> None:
    class Recording:
        def __init__(self) -> None:
            self.generic: list[Any] = []

        def add_generic_rpc_handlers(self, handlers: Any) -> None:
            self.generic.extend(handlers)

        def add_registered_method_handlers(self, service: str, handlers: Any) -> None:
            raise AssertionError("registered methods must not reach the server")

    server = Recording()
    only = GenericOnly(server)  # type: ignore[arg-type]
    generic = grpc.method_handlers_generic_handler("s", {"Run": _handler()})
    only.add_generic_rpc_handlers((generic,))
    only.add_registered_method_handlers("s", {"Run": _handler()})
    assert server.generic == [generic]


class _Tagging(WrappingInterceptor):
    """Records its tag as a call passes through it, and each wrap it builds."""

    def __init__(self, tag: str, seen: list[str], built: list[str]) -> None:
        super().__init__()
        self._tag, self._seen, self._built = tag, seen, built

    def wrap(self, full_method: str, handler: Handler) -> Handler:
        self._built.append(self._tag)

        def around(behavior: Any) -> Any:
            async def tagged(request: Any, context: Any) -> Any:
                self._seen.append(self._tag)
                return await behavior(request, context)

            return tagged

        return rewrapped(handler, around, None)


class _PerCall(aio.ServerInterceptor):  # type: ignore[type-arg]
    def __init__(self, seen: list[str]) -> None:
        self._seen = seen

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Handler]],
        details: grpc.HandlerCallDetails,
    ) -> Handler:
        self._seen.append("per-call")
        return await continuation(details)


def test_chained_merges_consecutive_wrapping_interceptors_and_keeps_the_order() -> None:
    seen: list[str] = []
    built: list[str] = []
    a, b, d = (_Tagging(tag, seen, built) for tag in "abd")
    per_call = _PerCall(seen)
    interceptors = chained([a, b, per_call, d])
    assert len(interceptors) == 3 and interceptors[1] is per_call and interceptors[2] is d
    assert chained([a]) == [a] and chained([per_call]) == [per_call]

    async def echo(request: bytes, context: Any) -> bytes:
        seen.append("handler")
        return request

    async def main() -> None:
        server = aio.server(interceptors=interceptors)
        handlers = {"Echo": grpc.unary_unary_rpc_method_handler(echo)}
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("test.Chain", handlers),))
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        try:
            async with aio.insecure_channel(f"127.0.0.1:{port}") as channel:
                call = channel.unary_unary("/test.Chain/Echo")
                for _ in range(3):
                    assert await call(b"x") == b"x"
        finally:
            await server.stop(None)

    asyncio.run(main())
    assert seen == ["per-call", "a", "b", "d", "handler"] * 3
    assert sorted(built) == ["a", "b", "d"]  # each wrap built once, for the method's first call
