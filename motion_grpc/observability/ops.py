"""One call per op for the engine: its metrics, and its span when tracing is on."""

from __future__ import annotations

from contextlib import AbstractContextManager, ExitStack
from typing import Any

from motion_grpc.observability import metrics, tracing


def serve_op(component: str, flow: str, op: str) -> AbstractContextManager[Any]:
    """Wrap a serve op's run: `with serve_op(...): result = await ...`."""
    return _observed("serve", component, flow, op, None)


def update_op(component: str, flow: str, op: str, payload: bytes | None) -> AbstractContextManager[Any]:
    """Wrap an update op's run; its span continues the trace its entry's payload carried."""
    return _observed("update", component, flow, op, payload)


def _observed(
    kind: str, component: str, flow: str, op: str, payload: bytes | None
) -> AbstractContextManager[Any]:
    timer = metrics.timed_op(kind, component, flow, op)
    if not tracing.active():
        return timer
    stack = ExitStack()
    parent = None if payload is None else tracing.carried(payload)
    stack.enter_context(tracing.op_span(kind, component, flow, op, parent))
    stack.enter_context(timer)
    return stack


__all__ = ["serve_op", "update_op"]
