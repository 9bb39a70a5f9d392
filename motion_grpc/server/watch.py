"""WatchUpdates: an instance's update events, streamed from the process's shared feed.

A watch is a coroutine on the server's event loop waiting on its
subscription (see engine/watching.py); it holds no serve or wait thread.
Only create_if_missing (init_state) and include_state (reading and decoding
the state, once per new version for every watcher of the instance) borrow
a serve thread, briefly.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

from grpc import aio

from motion_grpc import codec
from motion_grpc._proto.motion.v1 import motion_pb2 as pb
from motion_grpc.definition import ComponentDefinition
from motion_grpc.engine import AsyncEngine
from motion_grpc.engine.watching import Subscription, WatchHub
from motion_grpc.errors import FailedPreconditionError, NotFoundError
from motion_grpc.names import validate_name
from motion_grpc.store import protocol
from motion_grpc.store.events import format_event_id, parse_event_id
from motion_grpc.store.keys import InstanceKeys
from motion_grpc.store.records import Event


class WatchService:
    """Serves WatchUpdates calls from one WatchHub."""

    def __init__(self, engine: AsyncEngine, hub: WatchHub) -> None:
        self._engine = engine
        self._hub = hub

    async def watch(
        self, request: pb.WatchUpdatesRequest, context: aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[pb.WatchUpdatesResponse]:
        component, keys = self._engine.resolve(request.instance.component, request.instance.instance_id)
        flows = _flows(component, request.flows)
        if request.after_event_id:
            parse_event_id(request.after_event_id)  # INVALID_ARGUMENT before any Redis work
        bounds = await self._hub.bounds(keys)
        if not bounds.exists:
            await self._create(component, keys, request.create_if_missing, context)
            bounds = await self._hub.bounds(keys)
        subscription = await self._hub.subscribe(keys, request.after_event_id, bounds, flows)
        try:
            yield _progress(subscription)
            heartbeat = self._hub.settings.heartbeat
            while True:
                events = await subscription.next_batch(self._hub.events, heartbeat)
                if not events:
                    yield _progress(subscription)
                for event in events:
                    yield await self._message(subscription, event, request.include_state)
        finally:
            subscription.close()

    async def _create(
        self,
        component: ComponentDefinition,
        keys: InstanceKeys,
        create: bool,
        context: aio.ServicerContext[Any, Any],
    ) -> None:
        if not create:
            raise NotFoundError(
                f"instance {keys.instance_id!r} of {component.name} does not exist "
                "(set create_if_missing to create it; motion-grpc watch --create)"
            )
        remaining = context.time_remaining()
        deadline = None if remaining is None else time.monotonic() + remaining
        await self._engine.ensure_instance(component, keys, None, deadline)

    async def _message(
        self, subscription: Subscription, event: Event, include_state: bool
    ) -> pb.WatchUpdatesResponse:
        message = pb.WatchUpdatesResponse(event=update_event(event))
        if include_state and event.status == protocol.APPLIED:
            version, state = await subscription.state_at(event.version, self._load_state)
            message.event.state.CopyFrom(state)
            message.event.state_version = version
        return message

    async def _load_state(self, keys: InstanceKeys) -> tuple[int, Any]:
        view = await self._engine.get_state(keys.component, keys.instance_id, copies=False)
        try:
            return view.version, codec.to_struct(view.state, "state")
        except codec.EncodeError as exc:
            raise FailedPreconditionError(
                f"{exc}; include_state needs JSON-like state (read it with GetState and accept_pickle)"
            ) from exc


def update_event(event: Event) -> pb.UpdateEvent:
    return pb.UpdateEvent(
        event_id=event.id,
        update_id=event.update_id,
        flow=event.flow,
        op=event.op,
        status=pb.UpdateStatus.Name(event.status),  # stored numbers are UpdateStatus values
        version=event.version,
        error_type=event.error_type,
        error_message=event.error_message,
        enqueued_at_ms=event.enqueued_ms,
        at_ms=event.at_ms,
        attempt=event.attempt,
    )


def _progress(subscription: Subscription) -> pb.WatchUpdatesResponse:
    latest = format_event_id(subscription.position)
    return pb.WatchUpdatesResponse(progress=pb.Progress(latest_event_id=latest))


def _flows(component: ComponentDefinition, flows: Sequence[str]) -> list[str] | None:
    """The flows filter, each a flow of the component (NOT_FOUND otherwise)."""
    for flow in flows:
        component.flow(validate_name(flow, "flow key"))
    return list(flows) or None
