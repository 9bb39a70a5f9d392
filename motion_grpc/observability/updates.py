"""What the drainer reports: entries committed or discarded, and instances taken over from another worker."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from motion_grpc.logs import RateLimitedLog
from motion_grpc.observability import metrics
from motion_grpc.store import protocol
from motion_grpc.store.keys import InstanceKeys
from motion_grpc.store.records import CommitRecord, Discarded, Taken

log = logging.getLogger("motion_grpc.leases")
_limited = RateLimitedLog(log)


def committed(component: str, records: Sequence[CommitRecord]) -> None:
    """Count each committed entry as applied or failed (by error type), with its lag since enqueue."""
    for record in records:
        entry = record.entry
        failed = (record.error_type or "Unknown") if record.status == protocol.FAILED else ""
        flow = "(admin)" if entry.flow.startswith("\0") else entry.flow  # WriteState, migrations
        metrics.update_ended(component, flow, entry.op, failed, entry.enqueued_ms)


def discarded(component: str, tally: Sequence[Discarded]) -> None:
    """Count the entries a TAKE dropped by discard policy (its reply says which, so no extra trip)."""
    for group in tally:
        metrics.updates_discarded(component, group.flow, group.op, group.reason, group.count)


def lease_taken(keys: InstanceKeys, taken: Taken) -> None:
    """Just took the lease: a takeover when the head entry was started before and never ended.

    That happens when the worker that started it died or lost its lease (or its state would not
    load): the instance resumes here. One log line per takeover, rate-limited per component.
    """
    if taken.code != protocol.TAKEN or max(taken.attempts, default=1) < 2:
        return
    metrics.lease_taken_over(keys.component)
    _limited.warning(
        f"takeover\0{keys.component}",
        "took over %s/%s: update %s resumes at attempt %d (an earlier attempt did not finish)",
        keys.component,
        keys.instance_id,
        taken.entries[0].id,
        max(taken.attempts),
        extra={"event": "lease_takeover", "component": keys.component, "instance": keys.instance_id},
    )


__all__ = ["committed", "discarded", "lease_taken"]
