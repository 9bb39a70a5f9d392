"""Discard policies under a burst: exact counts, derived from the rule of each policy.

Each test first starts one update held at a gate and waits until it is RUNNING,
then enqueues 199 more of the same op while it runs, and only then opens the
gate, so the whole burst is queued before the first of it is considered, however
slowly a loaded machine enqueues it:

- NONE: all 200 are applied, in order.
- NUM_NEW_UPDATES, N: an update is discarded when N or more newer updates of its
  op are queued when it comes up. With sequence numbers 1..200 and the first
  already running, update k runs iff 200 - k < N: the last N run, so N + 1 are
  applied in all and 199 - N are superseded. The newest always runs.
- SECONDS, S: an update still unstarted S seconds after its enqueue is dropped.
  The gate opens 2 S after the last of the burst was queued, so every one of
  the 199 is older than S when it comes up: exactly 1 applied, 199 expired. An
  update enqueued on an idle queue runs.
"""

from __future__ import annotations

import pathlib
import time
from typing import Any

from motion_grpc import Component, DiscardPolicy, MotionClient
from motion_grpc._proto.motion.v1 import motion_pb2 as pb
from motion_grpc.client import InstanceHandle
from motion_grpc.engine import Engine
from motion_grpc.store import RedisSettings, scripts
from tests.apps.semantics import EXPIRE_AFTER, SUPERSEDE_AFTER
from tests.helpers import assert_eventually, unique
from tests.integration.conftest import events_of, mark_started, queued_unapplied

BURST = 200


def _burst(
    client: MotionClient, redis_url: str, flow: str, gate: pathlib.Path, hold: float = 0.0
) -> InstanceHandle:
    """Start an update held at `gate`, wait until it runs, queue BURST - 1 more, then open the
    gate `hold` seconds after the last was queued; the handle that ran them (its flush reports
    every one of them that failed, however early it ended)."""
    instance_id = unique(flow)
    handle = client.instance("Burst", instance_id)
    first = handle.run_outcome(flow, {"i": 0, "gate": str(gate)}).update_ids[0]
    assert_eventually(lambda: _running(redis_url, instance_id, first))
    for i in range(1, BURST):
        handle.run(flow, {"i": i})
    time.sleep(hold)
    gate.touch()
    return handle


def _running(redis_url: str, instance_id: str, update_id: str) -> bool:
    events = events_of(redis_url, "Burst", instance_id)
    return any(e.update_id == update_id and e.status == scripts.RUNNING for e in events)


def _outcomes(redis_url: str, instance_id: str) -> dict[int, list[str]]:
    """Per terminal status, the error_type (the discard reason) of each event."""
    ended: dict[int, list[str]] = {}
    for event in events_of(redis_url, "Burst", instance_id):
        if event.status in (scripts.APPLIED, scripts.FAILED, scripts.DISCARDED):
            ended.setdefault(event.status, []).append(event.error_type)
    return ended


def test_none_applies_every_update_in_order(
    semantics_client: MotionClient, redis_url: str, tmp_path: pathlib.Path
) -> None:
    handle = _burst(semantics_client, redis_url, "none", tmp_path / "gate")
    instance_id = handle.instance_id
    flushed = handle.flush(timeout=60)
    assert flushed.failed == []
    assert handle.get_state(["none"])["none"] == list(range(BURST))
    assert flushed.version == 1 + BURST
    assert _outcomes(redis_url, instance_id) == {scripts.APPLIED: [""] * BURST}


def test_num_new_updates_runs_the_newest_n(
    semantics_client: MotionClient, redis_url: str, tmp_path: pathlib.Path
) -> None:
    handle = _burst(semantics_client, redis_url, "num", tmp_path / "gate")
    instance_id = handle.instance_id
    flushed = handle.flush(timeout=60)
    newest = list(range(BURST - SUPERSEDE_AFTER, BURST))
    assert handle.get_state(["num"])["num"] == [0, *newest]
    superseded = BURST - 1 - SUPERSEDE_AFTER
    assert _outcomes(redis_url, instance_id) == {
        scripts.APPLIED: [""] * (1 + SUPERSEDE_AFTER),
        scripts.DISCARDED: ["superseded"] * superseded,
    }
    assert [f.status for f in flushed.failed] == [pb.UPDATE_STATUS_DISCARDED] * superseded
    assert "newer updates of burst_num were queued" in flushed.failed[0].error_message
    # Discards never touch state: only the applied updates bumped the version.
    assert flushed.version == 1 + 1 + SUPERSEDE_AFTER


def test_seconds_expires_what_waited_too_long(
    semantics_client: MotionClient, redis_url: str, tmp_path: pathlib.Path
) -> None:
    # Every queued update is older than the limit when it comes up.
    handle = _burst(semantics_client, redis_url, "secs", tmp_path / "gate", hold=2 * EXPIRE_AFTER)
    instance_id = handle.instance_id
    flushed = handle.flush(timeout=60)
    assert handle.get_state(["secs"])["secs"] == [0]
    assert _outcomes(redis_url, instance_id) == {
        scripts.APPLIED: [""],
        scripts.DISCARDED: ["expired"] * (BURST - 1),
    }
    assert flushed.version == 2
    assert "not started within 0.5 s" in flushed.failed[0].error_message
    # On an idle queue an update starts at once, well within the limit.
    outcome = handle.run_outcome("secs", {"i": BURST}, flush_update=True)
    assert [o.status for o in outcome.update_outcomes] == [pb.UPDATE_STATUS_APPLIED]
    assert handle.get_state(["secs"])["secs"] == [0, BURST]


def test_policies_count_only_updates_of_their_own_op(
    semantics_client: MotionClient, redis_url: str, tmp_path: pathlib.Path
) -> None:
    instance_id = unique("mixed")
    handle = semantics_client.instance("Burst", instance_id)
    gate = tmp_path / "gate"
    first = handle.run_outcome("num", {"i": 0, "gate": str(gate)}).update_ids[0]
    assert_eventually(lambda: _running(redis_url, instance_id, first))
    for i in range(1, 9):
        handle.run("none", {"i": i})
        handle.run("num", {"i": i})
    gate.touch()
    handle.flush(timeout=30)
    # num entries 2..9 queued (sequence numbers); the none entries in between do not count:
    # entry k runs iff 9 - k < 5, so i = 4..8 run.
    assert handle.get_state(["none", "num"]) == {"none": list(range(1, 9)), "num": [0, 4, 5, 6, 7, 8]}


Timely = Component("DiscardTimely", cache_ttl=0)


@Timely.init_state
def timely_setup() -> dict[str, list[int]]:
    return {"items": []}


@Timely.update("add", discard_policy=DiscardPolicy.SECONDS, discard_after=0.2)
def timely_add(state: Any, props: Any) -> dict[str, list[int]]:
    return {"items": [*state["items"], props["i"]]}


def test_seconds_never_discards_an_update_that_was_started_in_time(redis_url: str) -> None:
    """An update started before its S seconds were up, whose process then died, runs again: it
    was not left unstarted. One never started in time is dropped as expired."""
    instance_id = unique("timely")
    ids = queued_unapplied(redis_url, Timely, instance_id, "add", [{"i": 0}, {"i": 1}])
    mark_started(redis_url, Timely.name, instance_id, ids[0], 1)
    time.sleep(0.5)  # both are now older than S
    applier = Engine(RedisSettings(redis_url), [Timely]).start()
    try:
        applier.flush(Timely.name, instance_id)
        assert applier.get_state(Timely.name, instance_id).state["items"] == [0]
    finally:
        applier.close()
    ended = {
        event.update_id: (event.status, event.error_type)
        for event in events_of(redis_url, Timely.name, instance_id)
        if event.status in (scripts.APPLIED, scripts.DISCARDED)
    }
    assert ended == {ids[0]: (scripts.APPLIED, ""), ids[1]: (scripts.DISCARDED, "expired")}
