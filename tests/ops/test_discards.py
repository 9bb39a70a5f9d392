"""Updates dropped by a discard policy are counted in `motion_updates_discarded_total`, by reason.

TAKE discards inside its Lua script and says in its reply what it dropped; each
test queues a burst behind one update of a live server held at a gate (opened once
the burst is queued) and checks that the counter moved by exactly the DISCARDED
events the burst left in Redis.
"""

from __future__ import annotations

import pathlib
import time
from collections.abc import Iterator

import pytest
import redis

from motion_grpc import MotionClient
from motion_grpc.store import protocol
from motion_grpc.store.keys import InstanceKeys
from motion_grpc.store.records import Event, parse_event
from tests.apps.semantics import EXPIRE_AFTER, SUPERSEDE_AFTER
from tests.helpers import ROOT, ServerProcess, assert_eventually, free_port, unique
from tests.ops.test_metrics import sample, scrape

SEMANTICS_APP = str(ROOT / "tests" / "apps" / "semantics.py")
DISCARDED = "motion_updates_discarded_total"


@pytest.fixture(scope="module")
def burst_server(redis_url: str) -> Iterator[tuple[MotionClient, int]]:
    """A server hosting the Burst component, its metrics on a port of their own."""
    port = free_port()
    args = ["--metrics-port", str(port)]
    with (
        ServerProcess(apps=[SEMANTICS_APP], redis_url=redis_url, args=args) as server,
        MotionClient(server.target) as client,
    ):
        client.wait_ready()
        yield client, port


def _events(redis_url: str, instance_id: str) -> list[Event]:
    client = redis.Redis.from_url(redis_url)
    try:
        raw = client.xrange(InstanceKeys.of("Burst", instance_id).events, "-", "+")
    finally:
        client.close()
    return [parse_event(raw_id, fields) for raw_id, fields in raw]


def _burst(
    client: MotionClient, redis_url: str, flow: str, gate: pathlib.Path, hold: float, count: int
) -> list[Event]:
    """One update held at `gate`, and once it runs `count` more of the same op, the gate opened
    `hold` seconds after the last was queued; every event once all ended."""
    instance_id = unique(flow)
    handle = client.instance("Burst", instance_id)
    first = handle.run_outcome(flow, {"i": 0, "gate": str(gate)}).update_ids[0]
    assert_eventually(
        lambda: any(
            e.update_id == first and e.status == protocol.RUNNING for e in _events(redis_url, instance_id)
        )
    )
    for i in range(1, count + 1):
        handle.run(flow, {"i": i})
    time.sleep(hold)
    gate.touch()
    handle.flush(timeout=60)  # its `failed` lists the discarded ones too
    return _events(redis_url, instance_id)


def _discarded(events: list[Event], reason: str) -> int:
    return sum(1 for e in events if e.status == protocol.DISCARDED and e.error_type == reason)


@pytest.mark.parametrize(
    ("flow", "op", "reason", "hold"),
    [
        ("num", "burst_num", protocol.SUPERSEDED, 0.0),
        ("secs", "burst_secs", protocol.EXPIRED, 2 * EXPIRE_AFTER),
    ],
)
def test_discards_are_counted_by_reason(
    burst_server: tuple[MotionClient, int],
    redis_url: str,
    tmp_path: pathlib.Path,
    flow: str,
    op: str,
    reason: str,
    hold: float,
) -> None:
    client, port = burst_server
    labels = {"component": "Burst", "flow": flow, "op": op}
    before = scrape(port)
    events = _burst(client, redis_url, flow, tmp_path / "gate", hold, count=2 * SUPERSEDE_AFTER)
    dropped = _discarded(events, reason)
    assert dropped > 0, "the burst discarded nothing: the test proves nothing"

    def counted() -> str:
        text = scrape(port)
        moved = sample(text, DISCARDED, **labels, reason=reason) - sample(
            before, DISCARDED, **labels, reason=reason
        )
        assert moved == dropped, f"{DISCARDED} moved by {moved}, {dropped} {reason} events were written"
        return text

    after = assert_eventually(counted)
    other = protocol.EXPIRED if reason == protocol.SUPERSEDED else protocol.SUPERSEDED
    assert sample(after, DISCARDED, **labels, reason=other) == sample(
        before, DISCARDED, **labels, reason=other
    )
