"""Calling a flow's serve op: on the loop (async), on a thread, or in a caller's own thread (sync, as
Motion calls it), with its timeout, and timed (the time decides whether it counts as cheap)."""

from __future__ import annotations

import inspect
import time
from typing import Any

from motion_grpc.definition import ServeOp
from motion_grpc.engine.op_times import OpTimes
from motion_grpc.engine.ops import guarded
from motion_grpc.engine.runner import OpRunner, call_sync
from motion_grpc.engine.serve_call import ServeCall
from motion_grpc.engine.snapshots import Snapshot
from motion_grpc.observability import serve_op
from motion_grpc.props import Props
from motion_grpc.state import State


class ServeOps:
    """Calls serve ops, and keeps how long each flow's took."""

    def __init__(self, runner: OpRunner, fast_op_seconds: float, timeout: float | None) -> None:
        self._runner = runner
        self._timeout = timeout  # the server's default, for ops that set none
        self.times = OpTimes(fast_op_seconds)

    def timeout_of(self, serve: ServeOp) -> float | None:
        return serve.timeout if serve.timeout is not None else self._timeout

    async def call(self, call: ServeCall, props: dict[str, Any], snapshot: Snapshot) -> Any:
        """The serve op's whole result (a generator's items as a list)."""
        serve = call.flow.serve
        if serve is None:
            return None
        state, view, what = _serve_args(call, props, snapshot)
        timeout = self.timeout_of(serve)
        with serve_op(call.component.name, call.flow.key, serve.name):
            result, seconds = await self._runner.timed_call(what, serve.func, (state, view), timeout)
        if inspect.isgenerator(result):
            result, collecting = await self._runner.timed_call(what, list, (result,), timeout)
            seconds += collecting
        elif inspect.isasyncgen(result):
            started = time.perf_counter()
            result = await guarded(what, _collect_async(result))
            seconds += time.perf_counter() - started
        self._served(call, props, view, seconds)
        return result

    def serves_here(self, call: ServeCall) -> bool:
        """Whether the serve op may run in a caller's own thread: a plain function with no timeout."""
        serve = call.flow.serve
        return (
            serve is not None
            and self.timeout_of(serve) is None
            and not inspect.iscoroutinefunction(serve.func)
            and not inspect.isasyncgenfunction(serve.func)
        )

    def call_here(self, call: ServeCall, props: dict[str, Any], snapshot: Snapshot) -> Any:
        """`call` in the calling thread, for an op that `serves_here`, as Motion runs it.

        A result that needs the event loop (a coroutine, an async generator) is
        returned as it is: the caller hands it to the loop (`finish_serve`).
        """
        serve = call.flow.serve
        assert serve is not None
        state, view, what = _serve_args(call, props, snapshot)
        started = time.perf_counter()
        with serve_op(call.component.name, call.flow.key, serve.name):
            result = call_sync(what, serve.func, (state, view))
            if inspect.isgenerator(result):
                result = call_sync(what, list, (result,))
        self._served(call, props, view, time.perf_counter() - started)
        return result

    def _served(self, call: ServeCall, props: dict[str, Any], view: Props, seconds: float) -> None:
        self.times.record(call.component.name, call.flow.key, seconds)
        if view != props:
            # As in Motion, what a serve op adds to its props reaches the flow's update ops.
            props.clear()
            props.update(view)


def needs_loop(result: Any) -> bool:
    """Whether a serve op's result must be finished on the event loop."""
    return inspect.iscoroutine(result) or inspect.isasyncgen(result)


async def finish_serve(call: ServeCall, result: Any) -> Any:
    """The result of a `ServeOps.call_here` that `needs_loop`, awaited or collected."""
    if inspect.isasyncgen(result):
        return await guarded(what_serves(call), _collect_async(result))
    return await guarded(what_serves(call), result)


def what_serves(call: ServeCall) -> str:
    """How errors name the run's serve op."""
    serve = call.flow.serve
    return f"serve op {serve.name if serve else '-'} of {call.component.name}/{call.flow.key}"


def _serve_args(call: ServeCall, props: dict[str, Any], snapshot: Snapshot) -> tuple[State, Props, str]:
    """The serve op's state and props, and how errors name it."""
    return (
        State(call.keys.instance_id, snapshot.data, snapshot.version, call.keys.component),
        Props(props),
        what_serves(call),
    )


async def _collect_async(generator: Any) -> list[Any]:
    return [item async for item in generator]


__all__ = ["ServeOps", "finish_serve", "needs_loop", "what_serves"]
