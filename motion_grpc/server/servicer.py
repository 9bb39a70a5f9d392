"""The motion.v1 MotionService: decode, call the engine off the event loop, encode."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from grpc import aio

from motion_grpc import codec
from motion_grpc._proto.motion.v1 import motion_pb2 as pb
from motion_grpc._proto.motion.v1 import motion_pb2_grpc
from motion_grpc.component import Component, DiscardPolicy
from motion_grpc.engine import Engine
from motion_grpc.engine.engine import RunResult
from motion_grpc.errors import FailedPreconditionError, InvalidArgumentError, UnimplementedError
from motion_grpc.logs import excerpt
from motion_grpc.server.results import ResultCheck
from motion_grpc.server.streaming import outcome, run_options, run_stream
from motion_grpc.server.watch import WatchService

T = TypeVar("T")

_POLICY = {
    DiscardPolicy.NONE: pb.DISCARD_POLICY_NONE,
    DiscardPolicy.NUM_NEW_UPDATES: pb.DISCARD_POLICY_NUM_NEW_UPDATES,
    DiscardPolicy.SECONDS: pb.DISCARD_POLICY_SECONDS,
}


class MotionServicer(motion_pb2_grpc.MotionServiceServicer):  # type: ignore[misc]
    """Thin handlers; all behaviour lives in the engine.

    Serve ops run on the serve pool; calls that wait for updates run on a
    separate wait pool, so waiting never holds a serve thread.
    """

    def __init__(
        self,
        engine: Engine,
        serve_pool: ThreadPoolExecutor,
        wait_pool: ThreadPoolExecutor,
        allow_pickle: bool,
        watches: WatchService | None = None,
        redis: Any = None,
    ) -> None:
        """Args:
        redis: A redis.asyncio client for this event loop, to serve cheap runs on the loop
            itself; without it every run goes through the serve pool.
        """
        self._engine = engine
        self._redis = redis
        self._serve_pool = serve_pool
        self._wait_pool = wait_pool
        self._allow_pickle = allow_pickle
        self._watches = watches

    async def _call(self, pool: ThreadPoolExecutor, func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(pool, lambda: func(*args, **kwargs))

    async def Run(self, request: pb.RunRequest, context: aio.ServicerContext[Any, Any]) -> pb.RunResponse:
        ref = request.instance
        waits = request.flush_update or request.force_refresh
        props = self._decode(request.props, request.pickled_props, "props")
        deadline = _deadline(context)
        check = ResultCheck(request.flow, request.accept_pickle)
        result = None if waits else await self._run_inline(request, props, deadline, check)
        if result is None:
            result = await self._call(
                self._wait_pool if waits else self._serve_pool,
                self._engine.run,
                ref.component,
                ref.instance_id,
                request.flow,
                props,
                check_result=check,
                **run_options(request, deadline),
            )
        response = pb.RunResponse(
            version=result.version,
            cached=result.cached,
            update_ids=result.update_ids,
            update_outcomes=[outcome(event) for event in result.outcomes],
        )
        encoded = check.encoded(result.result)
        if isinstance(encoded, bytes):
            response.pickled_result = encoded
        else:
            response.result.CopyFrom(encoded)
        return response

    async def _run_inline(
        self, request: pb.RunRequest, props: dict[str, Any], deadline: float | None, check: ResultCheck
    ) -> RunResult | None:
        """A cheap serve op on the event loop, its enqueue awaited: no thread hop for the common run.

        None when the run needs the serve pool (see Engine.prepare_run).
        """
        if self._redis is None:
            return None
        ref = request.instance
        prepared = self._engine.prepare_run(
            ref.component, ref.instance_id, request.flow, props, request.ignore_cache, deadline, check
        )
        if prepared is None:
            return None
        enqueued = await self._engine.store.asend_enqueue(self._redis, prepared.request)
        return self._engine.finish_run(prepared, enqueued)

    async def RunStream(
        self, request: pb.RunRequest, context: aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[pb.RunStreamResponse]:
        props = self._decode(request.props, request.pickled_props, "props")
        pools = (self._serve_pool, self._wait_pool)
        async for message in run_stream(self._engine, request, props, pools, _deadline(context)):
            yield message

    async def WatchUpdates(
        self, request: pb.WatchUpdatesRequest, context: aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[pb.WatchUpdatesResponse]:
        if self._watches is None:
            raise UnimplementedError("this server was built without watches")
        async for message in self._watches.watch(request, context):
            yield message

    async def GetState(
        self, request: pb.GetStateRequest, context: aio.ServicerContext[Any, Any]
    ) -> pb.GetStateResponse:
        ref = request.instance
        view = await self._call(
            self._serve_pool, self._engine.get_state, ref.component, ref.instance_id, list(request.keys)
        )
        response = pb.GetStateResponse(version=view.version)
        if request.version_only:
            return response
        if request.accept_pickle:
            for key, value in view.state.items():
                response.pickled_state[key] = codec.dumps(value)
            return response
        for key, value in view.state.items():
            try:
                response.state.fields[key].CopyFrom(codec.to_value(value, f"state[{excerpt(key)}]"))
            except codec.EncodeError as exc:
                raise FailedPreconditionError(
                    f"{exc}; read it with accept_pickle (Python clients), or leave it out with keys"
                ) from exc
        return response

    async def FlushUpdates(
        self, request: pb.FlushUpdatesRequest, context: aio.ServicerContext[Any, Any]
    ) -> pb.FlushUpdatesResponse:
        ref = request.instance
        waited = await self._call(
            self._wait_pool,
            self._engine.flush,
            ref.component,
            ref.instance_id,
            request.flow or None,
            _deadline(context),
            request.since_update_id,
        )
        failed = [outcome(event) for event in waited.outcomes.values()]
        return pb.FlushUpdatesResponse(version=waited.version, failed=failed)

    async def WriteState(
        self, request: pb.WriteStateRequest, context: aio.ServicerContext[Any, Any]
    ) -> pb.WriteStateResponse:
        ref = request.instance
        patch = self._decode(request.patch, request.pickled_patch, "patch")
        version = await self._call(
            self._wait_pool,
            self._engine.write_state,
            ref.component,
            ref.instance_id,
            patch,
            _deadline(context),
        )
        return pb.WriteStateResponse(version=version)

    async def DescribeComponents(
        self, request: pb.DescribeComponentsRequest, context: aio.ServicerContext[Any, Any]
    ) -> pb.DescribeComponentsResponse:
        return pb.DescribeComponentsResponse(components=[describe(c) for c in self._engine.components])

    async def ListInstances(
        self, request: pb.ListInstancesRequest, context: aio.ServicerContext[Any, Any]
    ) -> pb.ListInstancesResponse:
        ids, next_token = await self._call(
            self._serve_pool,
            self._engine.list_instances,
            request.component,
            request.page_size,
            request.page_token,
        )
        return pb.ListInstancesResponse(instance_ids=ids, next_page_token=next_token)

    async def DeleteInstance(
        self, request: pb.DeleteInstanceRequest, context: aio.ServicerContext[Any, Any]
    ) -> pb.DeleteInstanceResponse:
        ref = request.instance
        deleted = await self._call(
            self._serve_pool, self._engine.delete_instance, ref.component, ref.instance_id
        )
        return pb.DeleteInstanceResponse(deleted=deleted)

    def _decode(self, struct: Any, pickled: bytes, what: str) -> dict[str, Any]:
        if not pickled:
            return codec.from_struct(struct, what)
        if not self._allow_pickle:
            raise FailedPreconditionError(
                f"this server does not accept pickled {what}; "
                "send a Struct, or start the server with --allow-pickle"
            )
        value = codec.loads_client_pickle(pickled, f"pickled_{what}")
        if not isinstance(value, Mapping):
            raise InvalidArgumentError(f"pickled_{what} must hold a dict, not {type(value).__name__}")
        return dict(value)


def describe(component: Component) -> pb.ComponentInfo:
    """A component's flows, ops and policies, as DescribeComponents reports them."""
    info = pb.ComponentInfo(name=component.name, cache_ttl=component.cache_ttl)
    with contextlib.suppress(codec.EncodeError):  # params that are not JSON-like stay server-side
        info.params.CopyFrom(codec.to_struct(component.params, "params"))
    for flow in component.flows():
        flow_info = info.flows.add(
            key=flow.key,
            serve_op=flow.serve.name if flow.serve else "",
            serve_is_generator=bool(flow.serve and flow.serve.is_generator),
        )
        for op in flow.updates:
            flow_info.update_ops.add(
                name=op.name,
                discard_policy=_POLICY[op.discard_policy],
                discard_after=op.discard_after or 0.0,
                batch_size=op.batch_size,
            )
    return info


def _deadline(context: aio.ServicerContext[Any, Any]) -> float | None:
    remaining = context.time_remaining()
    return None if remaining is None else time.monotonic() + remaining
