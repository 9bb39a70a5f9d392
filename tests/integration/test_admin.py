"""ListInstances and DeleteInstance, over gRPC and in-process."""

from __future__ import annotations

import asyncio
import pathlib
import threading
import time
from collections.abc import Callable

import grpc
import pytest
import redis

from motion_grpc import AsyncMotionClient, MotionClient
from motion_grpc._proto.motion.v1 import motion_pb2 as pb
from motion_grpc.engine import Engine
from motion_grpc.errors import InvalidArgumentError, NotFoundError
from motion_grpc.instance import ComponentInstance
from motion_grpc.store import scripts
from motion_grpc.store.keys import InstanceKeys
from tests.helpers import ServerProcess, assert_eventually, unique
from tests.integration.conftest import events_of


def _create(engine: Engine, component: str, count: int, prefix: str) -> set[str]:
    ids = {unique(prefix) for _ in range(count)}
    for instance_id in ids:
        ComponentInstance(engine.component(component), instance_id, engine=engine)
    return ids


def _pages(client: MotionClient, component: str, page_size: int) -> list[list[str]]:
    pages, token = [], ""
    while True:
        request = pb.ListInstancesRequest(component=component, page_size=page_size, page_token=token)
        response = client.stub.ListInstances(request)
        pages.append(list(response.instance_ids))
        token = response.next_page_token
        if not token:
            return pages


@pytest.mark.parametrize("count", [20, 300])  # a small set (one SSCAN reply) and a hashtable-encoded one
def test_list_instances_pages_through_every_instance_once(
    engine: Engine, semantics_client: MotionClient, count: int
) -> None:
    component = "Migr" if count == 20 else "Listed"
    prefix = unique("list")
    created = _create(engine, component, count, prefix)
    pages = _pages(semantics_client, component, page_size=7)
    assert all(len(page) <= 7 for page in pages)
    listed = [instance_id for page in pages for instance_id in page if instance_id.startswith(prefix)]
    assert sorted(listed) == sorted(created)  # each exactly once
    assert set(semantics_client.list_instances(component, page_size=50)) >= created


def test_async_client_lists_and_deletes(engine: Engine, semantics_server: ServerProcess) -> None:
    created = _create(engine, "Migr", 3, unique("async"))
    victim = sorted(created)[0]

    async def main() -> tuple[set[str], bool, set[str]]:
        async with AsyncMotionClient(semantics_server.target) as client:
            before = {i async for i in client.list_instances("Migr", page_size=2)}
            deleted = await client.instance("Migr", victim).delete()
            after = {i async for i in client.list_instances("Migr")}
            return before, deleted, after

    before, deleted, after = asyncio.run(main())
    assert created <= before and deleted
    assert victim not in after and created - {victim} <= after


def test_list_instances_bad_input(semantics_client: MotionClient) -> None:
    with pytest.raises(NotFoundError):
        list(semantics_client.list_instances("Nope"))
    with pytest.raises(InvalidArgumentError, match="page_token"):
        semantics_client._list_page("Listed", 10, "not a token!")
    assert list(semantics_client.list_instances("Batched", page_size=1000)) is not None


def test_delete_removes_everything(semantics_client: MotionClient, redis_url: str) -> None:
    instance_id = unique("delete")
    handle = semantics_client.instance("Listed", instance_id)
    handle.run("bump", flush_update=True)
    handle.run("bump", flush_update=True)
    assert handle.version == 3
    assert handle.delete() is True
    client = redis.Redis.from_url(redis_url)
    keys = InstanceKeys.of("Listed", instance_id)
    assert client.exists(*keys.all()) == 0
    assert not client.sismember("motion:instances:Listed", instance_id)
    assert instance_id not in set(semantics_client.list_instances("Listed"))
    with pytest.raises(NotFoundError):
        handle.get_state()
    assert handle.delete() is False
    # A later run creates it afresh, and its versions continue after the deleted ones, so no
    # snapshot or cached answer of the old instance can pass for the new one.
    assert handle.run("bump", flush_update=True) == 0
    assert handle.get_state() == {"n": 1}
    assert handle.version == 5
    client.close()


def test_delete_during_a_running_update_does_not_resurrect(
    semantics_client: MotionClient, redis_url: str
) -> None:
    instance_id = unique("running")
    handle = semantics_client.instance("Listed", instance_id)
    update_id = handle.run_outcome("bump", {"sleep": 1.0}).update_ids[0]
    handle.run("bump", {})
    assert_eventually(
        lambda: any(
            e.update_id == update_id and e.status == scripts.RUNNING
            for e in events_of(redis_url, "Listed", instance_id)
        )
    )
    assert handle.delete()
    time.sleep(1.5)  # the op finishes; its commit must be refused
    client = redis.Redis.from_url(redis_url)
    assert client.exists(*InstanceKeys.of("Listed", instance_id).all()) == 0
    client.close()
    with pytest.raises(NotFoundError):
        handle.get_state()
    assert handle.run("bump", {}, flush_update=True) == 0  # fresh from init_state


def test_a_flush_waiting_on_a_deleted_instance_ends(
    semantics_client: MotionClient, tmp_path: pathlib.Path
) -> None:
    handle = semantics_client.instance("Listed", unique("flushing"))
    gate = tmp_path / "gate"  # holds the first update until after the delete: the flush cannot succeed
    handle.run("bump", {"gate": str(gate)})
    handle.run("bump", {})
    errors: list[BaseException] = []

    def flush() -> None:
        try:
            handle.flush(timeout=30)
        except Exception as exc:
            errors.append(exc)

    waiter = threading.Thread(target=flush)
    waiter.start()
    time.sleep(0.2)  # the flush is waiting (one that comes after the delete is NotFound too)
    handle.delete()
    gate.touch()
    waiter.join(10)
    assert not waiter.is_alive()
    assert len(errors) == 1 and isinstance(errors[0], NotFoundError)


def test_in_process_delete(make_engine: Callable[..., Engine]) -> None:
    engine = make_engine()
    instance = ComponentInstance(engine.component("Listed"), unique("local"), engine=engine)
    instance.run("bump", flush_update=True)
    assert instance.delete() is True
    with pytest.raises(NotFoundError):
        instance.get_state()
    assert instance.delete() is False
    assert instance.run("bump", flush_update=True) == 0


def test_delete_of_unknown_component_is_not_found(semantics_client: MotionClient) -> None:
    with pytest.raises(grpc.RpcError) as info:
        semantics_client.stub.DeleteInstance(
            pb.DeleteInstanceRequest(instance=pb.InstanceRef(component="Nope", instance_id="x"))
        )
    assert info.value.code() == grpc.StatusCode.NOT_FOUND


def test_describe_reports_policies_batches_and_generators(semantics_client: MotionClient) -> None:
    described = {c.name: c for c in semantics_client.describe()}
    ops = {op.name: op for flow in described["Burst"].flows for op in flow.update_ops}
    assert ops["burst_num"].discard_policy == pb.DISCARD_POLICY_NUM_NEW_UPDATES
    assert ops["burst_num"].discard_after == 5
    assert ops["burst_secs"].discard_policy == pb.DISCARD_POLICY_SECONDS
    assert ops["burst_secs"].discard_after == 0.5
    assert ops["burst_none"].discard_policy == pb.DISCARD_POLICY_NONE
    batched = described["Batched"].flows[0]
    assert batched.update_ops[0].batch_size == 4
    assert batched.serve_op == "batched_serve" and not batched.serve_is_generator
