"""Waiting for queued updates to end, woken by the instance's event stream.

A blocking XREAD on the events stream wakes as soon as an update ends, in
this process or any other, so no waiter polls; the short block bound only
lets it check its deadline.
"""

from __future__ import annotations

import time
from collections.abc import Collection
from dataclasses import dataclass, field

from motion_grpc.errors import DeadlineExceededError, InvalidArgumentError, NotFoundError
from motion_grpc.logs import excerpt
from motion_grpc.store import scripts
from motion_grpc.store.keys import InstanceKeys
from motion_grpc.store.store import Event, Store

MAX_BLOCK_MS = 1000
TERMINAL = frozenset({scripts.APPLIED, scripts.FAILED, scripts.DISCARDED})


_NEWEST = (2**64, 2**64)


def stream_id(value: str) -> tuple[int, int]:
    ms, _, seq = value.partition("-")
    return int(ms), int(seq or 0)


def parse_update_id(value: str, what: str = "update id") -> tuple[int, int]:
    """An update id a client sent back ('<ms>-<seq>'); INVALID_ARGUMENT when it is not one."""
    ms, dash, seq = value.partition("-")
    if not (ms.isdigit() and seq.isdigit() and dash) or len(value) > 41:
        raise InvalidArgumentError(f"{what} {excerpt(value)} is not an update id (<milliseconds>-<sequence>)")
    return int(ms), int(seq)


def events_from(update_id: tuple[int, int]) -> str:
    """An events-stream id before the events of this update (they are appended no earlier)."""
    return f"{max(0, update_id[0] - 1)}-0"


@dataclass
class WaitResult:
    version: int
    outcomes: dict[str, Event] = field(default_factory=dict)


def wait_for_updates(
    store: Store,
    keys: InstanceKeys,
    target: str | None,
    events_after: str,
    deadline: float | None,
    wanted: Collection[str] | None = None,
    since: tuple[int, int] = (0, 0),
) -> WaitResult:
    """Block until every entry up to `target` has ended; collect the outcomes seen since `events_after`.

    Args:
        target: Id of the newest entry to wait for; None: every entry queued now.
        events_after: Event id from which outcomes are collected.
        deadline: time.monotonic() limit, or None to wait as long as it takes.
        wanted: Entry ids whose outcomes to keep; None keeps FAILED and DISCARDED ones from
            `since` up to target.
    """
    result = WaitResult(version=0)
    cursor = events_after
    limit = (since, _NEWEST if target is None else stream_id(target))
    while True:
        done, newest, version = store.flush_probe(keys, target)
        if version is None:
            raise NotFoundError(
                f"instance {keys.instance_id!r} of {keys.component} was deleted while waiting"
            )
        if done:
            cursor = _collect(store, keys, cursor, newest, limit, wanted, result)
            result.version = version
            return result
        block_ms = MAX_BLOCK_MS
        if deadline is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise DeadlineExceededError("deadline passed before the queued updates were applied")
            block_ms = max(1, min(MAX_BLOCK_MS, int(remaining * 1000)))
        for event in store.read_events(keys, cursor, block_ms):
            cursor = event.id
            _keep(event, limit, wanted, result)


def _collect(
    store: Store,
    keys: InstanceKeys,
    cursor: str,
    newest: str,
    limit: tuple[tuple[int, int], tuple[int, int]],
    wanted: Collection[str] | None,
    result: WaitResult,
) -> str:
    while stream_id(cursor) < stream_id(newest):
        events = store.events_range(keys, cursor, 500)
        if not events:
            break
        for event in events:
            cursor = event.id
            _keep(event, limit, wanted, result)
    return cursor


def _keep(
    event: Event,
    limit: tuple[tuple[int, int], tuple[int, int]],
    wanted: Collection[str] | None,
    result: WaitResult,
) -> None:
    if event.status not in TERMINAL:
        return
    if wanted is not None:
        if event.update_id in wanted:
            result.outcomes[event.update_id] = event
    elif event.status != scripts.APPLIED and limit[0] <= stream_id(event.update_id) <= limit[1]:
        result.outcomes[event.update_id] = event
