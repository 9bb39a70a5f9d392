"""Accounting for every update of the soak: each one ended exactly once, the way its fate says.

The clients wrote down every update id the server handed back; the events
streams in Redis say how each update ended. Every id must have exactly one
terminal event (APPLIED, FAILED or DISCARDED), no terminal event may belong to
an id nobody was given, a fated op must end as its fate says, only ops with a
discard policy may be discarded, and each instance's counters must equal the
number of its APPLIED updates.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass, field
from typing import Any

import redis

from motion_grpc import MotionClient
from motion_grpc.store.keys import InstanceKeys
from motion_grpc.store.protocol import APPLIED, DISCARDED, FAILED
from motion_grpc.store.records import Event, parse_event
from tests.apps.soakapp import DISCARDING_OPS, FATED_OPS, fate
from tests.soak.driver import COMPONENT, Enqueued

STATUS_NAMES = {APPLIED: "APPLIED", FAILED: "FAILED", DISCARDED: "DISCARDED"}
#: Which state counter each op bumps when APPLIED.
COUNTER_OF = {"tally": "applied", "summarize": "summaries", "refresh": "refreshes"}
PAGE = 1000


@dataclass
class Ledger:
    """What the accounting found: counts by (op, status), and every discrepancy."""

    counts: collections.Counter[tuple[str, str]] = field(default_factory=collections.Counter)
    problems: list[str] = field(default_factory=list)

    def problem(self, text: str) -> None:
        if len(self.problems) < 50:  # enough to see the pattern; the count says the rest
            self.problems.append(text)
        else:
            self.counts["(more problems)", ""] += 1


def terminal_events(client: redis.Redis, instance_id: str) -> list[Event]:
    """The instance's APPLIED, FAILED and DISCARDED events, read from its events stream page by page."""
    stream = InstanceKeys.of(COMPONENT, instance_id).events
    events: list[Event] = []
    start = "-"
    while batch := client.xrange(stream, start, "+", count=PAGE):
        events += [event for event in (parse_event(i, f) for i, f in batch) if event.status in STATUS_NAMES]
        start = "(" + batch[-1][0].decode()
    return events


def expected_status(op: str, n: int) -> set[int]:
    if op in DISCARDING_OPS:
        return {APPLIED, DISCARDED}
    if op in FATED_OPS and fate(n) in ("raise", "exit"):
        return {FAILED}
    return {APPLIED}


def check_instance(ledger: Ledger, instance_id: str, runs: list[Enqueued], events: list[Event]) -> None:
    fated = {update_id: run.n for run in runs for update_id in run.update_ids}
    ended = collections.Counter(event.update_id for event in events)
    for update_id in fated:
        if ended[update_id] != 1:
            ledger.problem(f"{instance_id} update {update_id}: {ended[update_id]} terminal events, not 1")
    for event in events:
        status = STATUS_NAMES[event.status]
        ledger.counts[event.op, status] += 1
        if event.update_id not in fated:
            ledger.problem(
                f"{instance_id} update {event.update_id} ({event.op}) ended {status}; nobody enqueued it"
            )
        elif event.status not in expected_status(event.op, fated[event.update_id]):
            detail = f"{event.error_type}: {event.error_message[:80]}" if event.error_type else ""
            ledger.problem(f"{instance_id} update {event.update_id} ({event.op}) ended {status} {detail}")


def check_counters(ledger: Ledger, instance_id: str, state: dict[str, Any], events: list[Event]) -> None:
    applied = collections.Counter(event.op for event in events if event.status == APPLIED)
    for op, counter in COUNTER_OF.items():
        if state.get(counter) != applied[op]:
            ledger.problem(
                f"{instance_id}: state {counter}={state.get(counter)}, but {applied[op]} {op} APPLIED"
            )


def account(redis_url: str, client: MotionClient, runs: list[Enqueued], ids: list[str]) -> Ledger:
    """Flush every instance, then account for every update (call once the load has stopped)."""
    by_instance: dict[str, list[Enqueued]] = collections.defaultdict(list)
    for run in runs:
        by_instance[run.instance_id].append(run)
    ledger = Ledger()
    redis_client = redis.Redis.from_url(redis_url)
    try:
        for instance_id in ids:
            handle = client.instance(COMPONENT, instance_id)
            handle.flush(timeout=120)
            events = terminal_events(redis_client, instance_id)
            check_instance(ledger, instance_id, by_instance[instance_id], events)
            check_counters(ledger, instance_id, handle.get_state(timeout=30), events)
    finally:
        redis_client.close()
    return ledger
