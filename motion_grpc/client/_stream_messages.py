"""The messages of streaming calls: a streamed run's items and outcome, a watch's events.

The states below absorb one message at a time and never wait on the network,
so the core builds them and either face's iterator feeds them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from motion_grpc import codec
from motion_grpc._proto.motion.v1 import motion_pb2 as pb
from motion_grpc.client._messages import unpickle

_STATUS_PREFIX = "UPDATE_STATUS_"


@dataclass(frozen=True)
class WatchEvent:
    """One update-status event; pass `event_id` as `after` to resume a watch after it."""

    event_id: str
    update_id: str
    flow: str
    op: str
    #: QUEUED, RUNNING, APPLIED, FAILED or DISCARDED.
    status: str
    version: int
    error_type: str = ""
    error_message: str = ""
    enqueued_at_ms: int = 0
    at_ms: int = 0
    attempt: int = 0
    #: With include_state, on APPLIED events: the whole state, read at state_version.
    state: dict[str, Any] | None = None
    state_version: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class WatchProgress:
    """A heartbeat: every event up to latest_event_id has been received (a gap-free resume point)."""

    latest_event_id: str


def watch_event(event: pb.UpdateEvent) -> WatchEvent:
    status = pb.UpdateStatus.Name(event.status).removeprefix(_STATUS_PREFIX)
    return WatchEvent(
        event_id=event.event_id,
        update_id=event.update_id,
        flow=event.flow,
        op=event.op,
        status=status,
        version=event.version,
        error_type=event.error_type,
        error_message=event.error_message,
        enqueued_at_ms=event.enqueued_at_ms,
        at_ms=event.at_ms,
        attempt=event.attempt,
        state=codec.from_struct(event.state) if event.HasField("state") else None,
        state_version=event.state_version,
    )


def watch_request(
    ref: pb.InstanceRef,
    after: str | None,
    flows: Sequence[str] | None,
    include_state: bool,
    create_if_missing: bool,
) -> pb.WatchUpdatesRequest:
    if isinstance(flows, str):
        flows = [flows]
    return pb.WatchUpdatesRequest(
        instance=ref,
        after_event_id=after or "",
        flows=list(flows or ()),
        include_state=include_state,
        create_if_missing=create_if_missing,
    )


@dataclass
class RunStreamState:
    """What the messages of one streaming run said so far, and the items they carry."""

    accept_pickle: bool
    #: Called with the update ids when the final message arrives.
    on_done: Callable[[list[str]], None] | None = None
    version: int = 0
    done: bool = False
    update_ids: list[str] = field(default_factory=list)
    update_outcomes: list[pb.UpdateOutcome] = field(default_factory=list)

    def take(self, message: pb.RunStreamResponse) -> tuple[bool, Any]:
        """Absorb one message: (True, item) when it carries an item."""
        self.version = message.version
        if message.done:
            self.done = True
            self.update_ids = list(message.update_ids)
            self.update_outcomes = list(message.update_outcomes)
            if self.on_done is not None:
                self.on_done(self.update_ids)
        if message.pickled_item:
            return True, unpickle(message.pickled_item, "a stream item", self.accept_pickle)
        if message.HasField("item"):
            return True, codec.from_value(message.item)
        return False, None


@dataclass
class WatchState:
    """Where a watch stands (its resume point) and whether it hands out heartbeats."""

    heartbeats: bool
    last_event_id: str = ""
    #: What waiting for the watch to start received, handed out first.
    held: WatchEvent | WatchProgress | None = None

    def take(self, message: pb.WatchUpdatesResponse) -> WatchEvent | WatchProgress | None:
        """Absorb one message: what to hand out, or None for a heartbeat nobody asked for."""
        if message.HasField("event"):
            self.last_event_id = message.event.event_id
            return watch_event(message.event)
        self.last_event_id = message.progress.latest_event_id
        return WatchProgress(self.last_event_id) if self.heartbeats else None

    def release(self) -> WatchEvent | WatchProgress | None:
        """The held item, once."""
        held, self.held = self.held, None
        return held
