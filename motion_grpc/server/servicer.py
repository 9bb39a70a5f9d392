"""The motion.v1 MotionService: decode, await the engine, encode."""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any, TypeVar

from google.protobuf.message import Message
from grpc import aio

from motion_grpc import codec
from motion_grpc._proto.motion.v1 import motion_pb2 as pb
from motion_grpc._proto.motion.v1 import motion_pb2_grpc
from motion_grpc.definition import ComponentDefinition, DiscardPolicy
from motion_grpc.engine import AsyncEngine, RunOptions
from motion_grpc.engine.instances import DECODE_HERE_BYTES
from motion_grpc.engine.serve_call import ServeCall
from motion_grpc.errors import (
    FailedPreconditionError,
    InvalidArgumentError,
    InvalidPropsError,
    InvalidRequestIdError,
    Reason,
    ResourceExhaustedError,
    UnimplementedError,
)
from motion_grpc.logs import excerpt
from motion_grpc.server.results import ResultCheck
from motion_grpc.server.streaming import outcome, run_options, run_stream
from motion_grpc.server.watch import WatchService

_POLICY = {
    DiscardPolicy.NONE: pb.DISCARD_POLICY_NONE,
    DiscardPolicy.NUM_NEW_UPDATES: pb.DISCARD_POLICY_NUM_NEW_UPDATES,
    DiscardPolicy.SECONDS: pb.DISCARD_POLICY_SECONDS,
}

T = TypeVar("T")

#: What a RunRequest.request_id may be: it becomes part of a Redis key name (see keys.request).
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


class MotionServicer(motion_pb2_grpc.MotionServiceServicer):  # type: ignore[misc]
    """Thin handlers: decode, await the engine (on this loop), encode."""

    def __init__(
        self,
        engine: AsyncEngine,
        allow_pickle: bool,
        watches: WatchService | None = None,
        max_result_bytes: int | None = None,
    ) -> None:
        self._engine = engine
        self._allow_pickle = allow_pickle
        self._watches = watches
        self._max_result_bytes = max_result_bytes  # what a response may carry of a result

    async def Run(self, request: pb.RunRequest, context: aio.ServicerContext[Any, Any]) -> pb.RunResponse:
        check_request_id(request.request_id)
        check = ResultCheck(request.flow, request.accept_pickle, self._max_result_bytes)
        options = run_options(request, _deadline(context))
        call = await _off_the_loop_if_large(request, self._serve_call, request, options, check)
        result = await self._engine.run_call(call)
        response = pb.RunResponse(
            version=result.version,
            cached=result.cached,
            update_ids=result.update_ids,
            update_outcomes=[outcome(event) for event in result.outcomes],
            deduplicated=result.deduplicated,
        )
        encoded = check.encoded(result.result)
        if isinstance(encoded, bytes):
            response.pickled_result = encoded
        else:
            response.result.CopyFrom(encoded)
        return response

    async def RunStream(
        self, request: pb.RunRequest, context: aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[pb.RunStreamResponse]:
        check_request_id(request.request_id)
        props = await _off_the_loop_if_large(request, self._decode_props, request)
        deadline = _deadline(context)
        async for message in run_stream(self._engine, request, props, deadline, self._max_result_bytes):
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
        view = await self._engine.get_state(ref.component, ref.instance_id, list(request.keys), copies=False)
        if request.version_only:
            return pb.GetStateResponse(version=view.version)
        state, pickled = view.state, request.accept_pickle
        large = codec.is_large(state)
        response = await _off_the_loop_if(large, _state_response, view.version, state, pickled)
        limit = self._max_result_bytes
        if limit is not None and (size := response.ByteSize()) > limit:
            raise ResourceExhaustedError(
                f"the state asked for is {size} bytes encoded, more than a response may carry "
                f"({limit} bytes under --max-message-bytes); ask for fewer keys at a time, "
                "or raise the limit"
            )
        return response

    async def FlushUpdates(
        self, request: pb.FlushUpdatesRequest, context: aio.ServicerContext[Any, Any]
    ) -> pb.FlushUpdatesResponse:
        ref = request.instance
        waited = await self._engine.flush(
            ref.component, ref.instance_id, request.flow or None, _deadline(context), request.since_update_id
        )
        failed = [outcome(event) for event in waited.outcomes.values()]
        return pb.FlushUpdatesResponse(version=waited.version, failed=failed)

    async def WriteState(
        self, request: pb.WriteStateRequest, context: aio.ServicerContext[Any, Any]
    ) -> pb.WriteStateResponse:
        ref = request.instance
        patch = await _off_the_loop_if_large(
            request, self._decode, request.patch, request.pickled_patch, "patch"
        )
        version = await self._engine.write_state(ref.component, ref.instance_id, patch, _deadline(context))
        return pb.WriteStateResponse(version=version)

    async def DescribeComponents(
        self, request: pb.DescribeComponentsRequest, context: aio.ServicerContext[Any, Any]
    ) -> pb.DescribeComponentsResponse:
        return pb.DescribeComponentsResponse(components=[describe(c) for c in self._engine.components])

    async def ListInstances(
        self, request: pb.ListInstancesRequest, context: aio.ServicerContext[Any, Any]
    ) -> pb.ListInstancesResponse:
        ids, next_token = await self._engine.list_instances(
            request.component, request.page_size, request.page_token
        )
        return pb.ListInstancesResponse(instance_ids=ids, next_page_token=next_token)

    async def DeleteInstance(
        self, request: pb.DeleteInstanceRequest, context: aio.ServicerContext[Any, Any]
    ) -> pb.DeleteInstanceResponse:
        ref = request.instance
        deleted = await self._engine.delete_instance(ref.component, ref.instance_id)
        return pb.DeleteInstanceResponse(deleted=deleted)

    def _serve_call(self, request: pb.RunRequest, options: RunOptions, check: ResultCheck) -> ServeCall:
        """The run's checked names and props (their digest too: it walks them all)."""
        ref = request.instance
        props = self._decode_props(request)
        return self._engine.serve_call(ref.component, ref.instance_id, request.flow, props, options, check)

    def _decode_props(self, request: pb.RunRequest) -> dict[str, Any]:
        """A run's props; INVALID_PROPS when they cannot be decoded."""
        try:
            return self._decode(request.props, request.pickled_props, "props")
        except InvalidArgumentError as exc:
            raise InvalidPropsError(exc.message) from exc

    def _decode(self, struct: Any, pickled: bytes, what: str) -> dict[str, Any]:
        if not pickled:
            return codec.from_struct(struct, what)
        if not self._allow_pickle:
            raise FailedPreconditionError(
                f"this server does not accept pickled {what}; "
                "send a Struct, or start the server with --allow-pickle",
                reason=Reason.PICKLE_NOT_ALLOWED,
            )
        value = codec.loads_client_pickle(pickled, f"pickled_{what}")
        if not isinstance(value, Mapping):
            raise InvalidArgumentError(f"pickled_{what} must hold a dict, not {type(value).__name__}")
        return dict(value)


async def _off_the_loop_if_large(message: Message, func: Callable[..., T], *args: Any) -> T:
    """`func(*args)`, on a thread when `message` is larger than a state decoded on the loop: decoding
    a request of a million small values takes seconds of Python, which would hold up every call."""
    return await _off_the_loop_if(message.ByteSize() > DECODE_HERE_BYTES, func, *args)


async def _off_the_loop_if(large: bool, func: Callable[..., T], *args: Any) -> T:
    """`func(*args)`, on a thread when it works on something `large`."""
    return await asyncio.to_thread(func, *args) if large else func(*args)


def _state_response(version: int, state: Mapping[str, Any], pickled: bool) -> pb.GetStateResponse:
    """GetState's answer; FAILED_PRECONDITION for a value a Value cannot carry."""
    response = pb.GetStateResponse(version=version)
    if pickled:
        for key, value in state.items():
            response.pickled_state[key] = codec.pickle_dumps(value)
        return response
    for key, value in state.items():
        try:
            response.state.fields[key].CopyFrom(codec.to_value(value, f"state[{excerpt(key)}]"))
        except codec.EncodeError as exc:
            raise FailedPreconditionError(
                f"{exc}; read it with accept_pickle (Python clients), or leave it out with keys"
            ) from exc
    return response


def check_request_id(request_id: str) -> None:
    """INVALID_ARGUMENT for a request id a client cannot have meant ("" is none at all)."""
    if request_id and not _REQUEST_ID.fullmatch(request_id):
        bad = next((char for char in request_id if not _REQUEST_ID.fullmatch(char)), None)
        why = f"it holds {bad!r}" if bad is not None else f"it is {len(request_id)} characters long"
        raise InvalidRequestIdError(
            f"request_id {excerpt(request_id)} must be 1 to 128 characters among A-Z a-z 0-9 - _ . : "
            f"(a UUID fits); {why}"
        )


def describe(component: ComponentDefinition) -> pb.ComponentInfo:
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
