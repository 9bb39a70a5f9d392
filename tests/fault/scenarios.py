"""Fault scenarios shared by the fault tests and the soak test."""

from __future__ import annotations

import pathlib
from collections.abc import Sequence

from motion_grpc import MotionClient
from tests.fault.support import (
    APPLIED,
    COMPONENT,
    LEASE_TTL,
    RUNNING,
    Enqueuer,
    check_exactly_once_in_order,
    events,
    kill,
    process_of,
    resumed_after,
    wait_for_mark,
)
from tests.helpers import ServerProcess, unique

UPDATES = 500
SLOW_AT = 200  # the update of the first enqueuer that holds its op long enough to be killed in it
SLOW_SLEEP = 0.5
#: A replica resumes a dead one's instance within the lease TTL plus this (seconds).
RECOVERY_MARGIN = 0.5


def sigkill_mid_update(
    redis_url: str, replicas: Sequence[ServerProcess], marks: pathlib.Path
) -> tuple[float, ServerProcess]:
    """Enqueue through every replica, SIGKILL the lease holder inside an op, check the outcome.

    Returns the seconds from the kill to a surviving replica starting an op of
    the instance, and the killed replica (stopped; the caller may restart it).
    """
    instance_id = unique("kill")
    per_client = UPDATES // len(replicas)
    bases = [index * 10_000 for index in range(len(replicas))]
    enqueuers = [
        Enqueuer(r.target, instance_id, base, per_client, (lambda n: SLOW_SLEEP if n == SLOW_AT else 0.005))
        if index == 0
        else Enqueuer(r.target, instance_id, base, per_client)
        for index, (r, base) in enumerate(zip(replicas, bases))
    ]
    for enqueuer in enqueuers:
        enqueuer.thread.start()
    for enqueuer in enqueuers:
        enqueuer.thread.join(60)
        assert not enqueuer.errors, enqueuer.errors
    holder = process_of(replicas, wait_for_mark(marks, bases[0] + SLOW_AT))
    killed_at = kill(holder.process.pid)  # type: ignore[union-attr]
    holder.stop(timeout=10)
    survivor = next(r for r in replicas if r is not holder)
    with MotionClient(survivor.target) as client:
        handle = client.instance(COMPONENT, instance_id)
        flushed = handle.flush(timeout=60)
        items = handle.get_state(["items"])["items"]
    assert flushed.failed == []
    check_exactly_once_in_order(items, bases, per_client)
    assert flushed.version == 1 + UPDATES
    history = events(redis_url, instance_id)
    slow = [e for e in history if e.status == RUNNING and e.attempt == 2]
    assert len(slow) == 1, "the killed op was not run again, exactly once more"
    assert sum(1 for e in history if e.status == APPLIED) == UPDATES
    recovery = resumed_after(history, killed_at)
    assert recovery < LEASE_TTL + RECOVERY_MARGIN, f"resumed {recovery:.2f}s after the kill"
    return recovery, holder
