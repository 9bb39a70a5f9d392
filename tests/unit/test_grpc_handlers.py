"""Interceptors' wrapped handlers are built once per method; the server keeps only generic handlers."""

from __future__ import annotations

from typing import Any

import grpc

from motion_grpc.grpc_handlers import GenericOnly, WrappedHandlers


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
