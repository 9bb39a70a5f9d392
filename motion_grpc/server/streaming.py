"""RunStream: a generator serve op's items sent as they are produced.

The serve op is called on a checked snapshot; each item is then produced
without holding the event loop: a sync generator is advanced by one `next()`
per serve-thread task, so no thread is held while the client reads; an async
generator on the loop itself (see engine/streaming.py).
grpc.aio awaits each message's write before asking for the next one, so a
slow reader slows the generator instead of piling items up in memory.

When the call ends early (the client cancelled, the deadline passed, an item
could not be encoded) the generator is closed, its `finally` runs, and no
update is enqueued. A plain serve op's call is a Run answered in one message:
its result is checked to be sendable before its updates are enqueued.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

from motion_grpc import codec
from motion_grpc._proto.motion.v1 import motion_pb2 as pb
from motion_grpc.engine import AsyncEngine, RunOptions, RunResult
from motion_grpc.engine.streaming import END
from motion_grpc.names import validate_name
from motion_grpc.server.results import Encoded, ResultCheck, encode_result
from motion_grpc.store.records import Event


def run_options(request: pb.RunRequest, deadline: float | None) -> RunOptions:
    """The options of Engine.run and Engine.open_stream a RunRequest asks for."""
    return RunOptions(
        ignore_cache=request.ignore_cache,
        force_refresh=request.force_refresh,
        flush_update=request.flush_update,
        init_state_params=codec.from_struct(request.init_state_params, "init_state_params"),
        deadline=deadline,
        request_id=request.request_id,
    )


async def run_stream(
    engine: AsyncEngine,
    request: pb.RunRequest,
    props: Mapping[str, Any],
    deadline: float | None,
    max_bytes: int | None = None,
) -> AsyncIterator[pb.RunStreamResponse]:
    """The messages of one RunStream call (results and items of at most `max_bytes` encoded)."""
    options = run_options(request, deadline)
    if not _streams(engine, request):
        yield await _run_whole(engine, request, props, options, max_bytes)
        return
    ref = request.instance
    async with engine.serve_slot():
        stream = await engine.open_stream(ref.component, ref.instance_id, request.flow, props, options)
        try:
            while (item := await stream.next_item()) is not END:
                message = pb.RunStreamResponse(version=stream.version)
                encoded = encode_result(item, request.flow, request.accept_pickle, max_bytes, "an item")
                _fill_item(message, encoded)
                yield message
            yield _final(await stream.finish())
        finally:
            await stream.close()


def _streams(engine: AsyncEngine, request: pb.RunRequest) -> bool:
    """Whether the flow's serve op is a generator (else the call is a plain run, answered at once)."""
    component, _ = engine.resolve(request.instance.component, request.instance.instance_id)
    serve = component.flow(validate_name(request.flow, "flow key")).serve
    return serve is not None and serve.is_generator


async def _run_whole(
    engine: AsyncEngine,
    request: pb.RunRequest,
    props: Mapping[str, Any],
    options: RunOptions,
    max_bytes: int | None,
) -> pb.RunStreamResponse:
    """A plain serve op's one message; its result is checked before its updates are enqueued."""
    check = ResultCheck(request.flow, request.accept_pickle, max_bytes)
    ref = request.instance
    result = await engine.run(ref.component, ref.instance_id, request.flow, props, options, check)
    message = _final(result)
    _fill_item(message, check.encoded(result.result))
    return message


def _final(result: RunResult) -> pb.RunStreamResponse:
    return pb.RunStreamResponse(
        version=result.version,
        update_ids=result.update_ids,
        done=True,
        update_outcomes=[outcome(event) for event in result.outcomes],
        deduplicated=result.deduplicated,
    )


def _fill_item(message: pb.RunStreamResponse, encoded: Encoded) -> None:
    if isinstance(encoded, bytes):
        message.pickled_item = encoded
    else:
        message.item.CopyFrom(encoded)


def outcome(event: Event) -> pb.UpdateOutcome:
    return pb.UpdateOutcome(
        update_id=event.update_id,
        flow=event.flow,
        op=event.op,
        status=pb.UpdateStatus.Name(event.status),
        error_type=event.error_type,
        error_message=event.error_message,
        version=event.version,
    )
