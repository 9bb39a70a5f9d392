"""Batch update ops: one call and one commit per batch, one APPLIED event per update."""

from __future__ import annotations

import pathlib
from typing import Any

from motion_grpc import Component, MotionClient
from motion_grpc.engine import Engine
from motion_grpc.store import RedisSettings, scripts
from tests.apps.semantics import BATCH_SIZE
from tests.helpers import assert_eventually, unique
from tests.integration.conftest import events_of, mark_started, queued_unapplied


def test_queued_updates_are_cut_into_batches(
    semantics_client: MotionClient, redis_url: str, tmp_path: pathlib.Path
) -> None:
    instance_id = unique("batch")
    handle = semantics_client.instance("Batched", instance_id)
    gate = tmp_path / "gate"  # holds the first update until the other 10 are queued
    first = handle.run_outcome("add", {"i": 0, "gate": str(gate)}).update_ids[0]

    def first_running() -> bool:
        events = events_of(redis_url, "Batched", instance_id)
        return any(e.update_id == first and e.status == scripts.RUNNING for e in events)

    assert_eventually(first_running)
    ids = [handle.run_outcome("add", {"i": i}).update_ids[0] for i in range(1, 11)]
    gate.touch()
    flushed = handle.flush(timeout=30)
    # The first ran alone (it was the only one queued); the 10 queued behind it went
    # in batches of at most BATCH_SIZE, in order.
    assert handle.get_state() == {"calls": [1, 4, 4, 2], "items": list(range(11))}
    assert flushed.version == 1 + 4  # one commit per batch
    applied = [e for e in events_of(redis_url, "Batched", instance_id) if e.status == scripts.APPLIED]
    assert [e.update_id for e in applied] == [first, *ids]
    assert [e.version for e in applied] == [2] + [3] * BATCH_SIZE + [4] * BATCH_SIZE + [5] * 2


def test_a_batch_op_gets_a_list_even_for_one_update(semantics_client: MotionClient) -> None:
    handle = semantics_client.instance("Batched", unique("single"))
    assert handle.run("add", {"i": 7}, flush_update=True) == 0
    assert handle.get_state() == {"calls": [1], "items": [7]}


Piled = Component("BatchPiled", cache_ttl=0)


@Piled.init_state
def piled_setup() -> dict[str, list[int]]:
    return {"items": []}


@Piled.update("add", batch_size=4)
def piled_add(state: Any, batch: list[Any]) -> dict[str, list[int]]:
    return {"items": state["items"] + [props["i"] for props in batch]}


def test_a_batch_whose_head_ran_out_of_attempts_fails_the_head_alone(redis_url: str) -> None:
    """An update that was started max_attempts times (its process died each time) ends FAILED
    AttemptsExhausted; the newer ones a batch took behind it never ran, and are applied."""
    instance_id = unique("piled")
    ids = queued_unapplied(redis_url, Piled, instance_id, "add", [{"i": i} for i in range(3)])
    mark_started(redis_url, Piled.name, instance_id, ids[0], 3)
    applier = Engine(RedisSettings(redis_url), [Piled]).start()
    try:
        applier.flush(Piled.name, instance_id)
        assert applier.get_state(Piled.name, instance_id).state["items"] == [1, 2]
    finally:
        applier.close()
    ended = {
        event.update_id: (event.status, event.error_type, event.attempt)
        for event in events_of(redis_url, Piled.name, instance_id)
        if event.status in (scripts.APPLIED, scripts.FAILED)
    }
    assert ended == {
        ids[0]: (scripts.FAILED, "AttemptsExhausted", 4),
        ids[1]: (scripts.APPLIED, "", 1),
        ids[2]: (scripts.APPLIED, "", 1),
    }
