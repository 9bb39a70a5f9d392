"""Retry-safe Run: a request id enqueues a run's updates at most once, across replicas, and the
Python client sends one by default and keeps it across the retries of the published service config."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import grpc
import pytest
import redis

from motion_grpc import Component, MotionClient, codec
from motion_grpc._proto.motion.v1 import motion_pb2 as pb
from motion_grpc._proto.motion.v1 import motion_pb2_grpc
from motion_grpc.engine import Engine, RunOptions
from motion_grpc.errors import InvalidArgumentError, Reason
from motion_grpc.server.loader import load_components
from motion_grpc.store import RedisServer, RedisSettings, protocol
from motion_grpc.store.keys import InstanceKeys
from motion_grpc.store.records import QueuedEntry
from tests.helpers import ServerProcess, fake_motion_server, unique

APP = str(Path(__file__).resolve().parents[2] / "conformance" / "app.py")
TTL_SECONDS = 3600


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    with RedisServer(appendonly=False) as server:
        yield server.url


@pytest.fixture(scope="module")
def replicas(redis_url: str) -> Iterator[list[str]]:
    """Two servers on one Redis, as two replicas behind a load balancer."""
    args = ["--request-id-ttl", str(TTL_SECONDS)]
    with (
        ServerProcess(apps=[APP], redis_url=redis_url, args=args) as first,
        ServerProcess(apps=[APP], redis_url=redis_url, args=args) as second,
    ):
        yield [first.target, second.target]


def _run(stub: Any, instance_id: str, request_id: str) -> pb.RunResponse:
    ref = pb.InstanceRef(component="Conformance", instance_id=instance_id)
    props = {"n": 1}
    request = pb.RunRequest(instance=ref, flow="add", request_id=request_id)
    request.props.update(props)
    response: pb.RunResponse = stub.Run(request, timeout=30)
    return response


def test_the_same_retry_sent_to_two_replicas_at_once_is_enqueued_once(replicas: list[str]) -> None:
    instance_id, request_id = unique("retry"), unique("request")
    channels = [grpc.insecure_channel(target) for target in replicas * 4]
    stubs = [motion_pb2_grpc.MotionServiceStub(channel) for channel in channels]
    _run(stubs[0], instance_id, unique("create"))  # the instance exists: the retries race on the enqueue only
    start = threading.Barrier(len(stubs))

    def send(stub: Any) -> pb.RunResponse:
        start.wait()
        return _run(stub, instance_id, request_id)

    with ThreadPoolExecutor(len(stubs)) as pool:
        responses = list(pool.map(send, stubs))
    for channel in channels:
        channel.close()
    assert len({tuple(response.update_ids) for response in responses}) == 1
    assert sorted(response.deduplicated for response in responses) == [False] + [True] * (len(stubs) - 1)
    assert len({response.version for response in responses}) == 1  # the first call's, for every repeat
    with MotionClient(replicas[0]) as client:
        client.instance("Conformance", instance_id).flush()
        assert client.instance("Conformance", instance_id).get_state(["history"]) == {"history": [1, 1]}


def test_a_repeat_gets_the_version_its_first_call_reported_though_the_state_moved_on(redis_url: str) -> None:
    """A run is served on the state it read; its enqueue may land after commits moved the instance
    on (this replica's own, which the version fence lets through). Its repeats report that same
    version, not the one current when the first call enqueued."""
    engine = Engine(RedisSettings(redis_url), load_components([APP])).start()
    try:
        instance_id = unique("moved")
        engine.run("Conformance", instance_id, "add", {"n": 1}, RunOptions(flush_update=True))
        store, keys = engine.store, InstanceKeys.of("Conformance", instance_id)
        assert engine.get_state("Conformance", instance_id).version == 2
        entry = QueuedEntry("add", "add", codec.dumps([{"n": 1}, 1]))
        request = (unique("request"), TTL_SECONDS * 1000, "")
        first = store.enqueue(store.enqueue_request(keys, [entry], request=request, served_version=1))
        again = store.enqueue(store.enqueue_request(keys, [entry], request=request, served_version=2))
        assert (again.code, again.ids, again.version) == (protocol.DUPLICATE_REQUEST, first.ids, 1)
    finally:
        engine.close()


def test_a_request_id_is_remembered_for_the_request_id_ttl(redis_url: str, replicas: list[str]) -> None:
    instance_id, request_id = unique("ttl"), unique("request")
    with grpc.insecure_channel(replicas[1]) as channel:
        _run(motion_pb2_grpc.MotionServiceStub(channel), instance_id, request_id)
    key = InstanceKeys.of("Conformance", instance_id).request(request_id)
    remaining_ms = redis.Redis.from_url(redis_url).pttl(key)
    assert 0 < remaining_ms <= TTL_SECONDS * 1000


def test_a_request_id_reused_for_other_props_is_refused_and_enqueues_nothing(replicas: list[str]) -> None:
    """A client that reuses an id by mistake learns it: before, the second run was answered as a
    repeat of the first, and its updates silently never enqueued."""
    instance_id, request_id = unique("reused"), unique("request")
    with MotionClient(replicas[0]) as client:
        handle = client.instance("Conformance", instance_id)
        first = handle.run_outcome("add", {"n": 1}, request_id=request_id)
        again = handle.run_outcome("add", {"n": 1}, request_id=request_id)  # a retry: the same run
        assert again.deduplicated and again.update_ids == first.update_ids
        for flow, props in (("add", {"n": 2}), ("tokens", {"n": 1})):
            with pytest.raises(InvalidArgumentError, match="request_id was sent before") as refused:
                handle.run_outcome(flow, props, request_id=request_id)
            assert refused.value.reason == Reason.INVALID_REQUEST_ID
        handle.flush()
        assert handle.get_state(["history"]) == {"history": [1]}


def test_a_retry_matches_its_first_call_whatever_its_serve_op_added_to_the_props(redis_url: str) -> None:
    """The mark is the props as sent: a first call served the checked way (its serve op's additions
    reaching the props its updates get) and a retry served on the snapshot are the same run."""
    noting = Component(unique("Noting"), cache_ttl=0)  # no cache digest to take the mark from

    @noting.init_state
    def setup() -> dict[str, int]:
        return {"n": 0}

    @noting.serve("note")
    def note(state: Any, props: Any) -> int:
        props["seen"] = state["n"]  # reaches the update ops, as in Motion
        return int(state["n"])

    @noting.update("note")
    def count(state: Any, props: Any) -> dict[str, int]:
        return {"n": state["n"] + props["by"]}

    warm = Engine(RedisSettings(redis_url), [noting]).start()
    try:
        instance_id = unique("noted")
        for _ in range(3):  # the op is timed cheap: this engine's runs go the snapshot's way
            warm.run(noting.name, instance_id, "note", {"by": 0}, RunOptions(flush_update=True))
        for n in range(2):
            request = RunOptions(request_id=unique("request"), flush_update=True)
            cold = Engine(RedisSettings(redis_url), [noting]).start()  # no snapshot: the checked way
            try:
                first = cold.run(noting.name, instance_id, "note", {"by": 1}, request)
            finally:
                cold.close()
            again = warm.run(noting.name, instance_id, "note", {"by": 1}, request)  # a retry elsewhere
            assert again.deduplicated and again.update_ids == first.update_ids, n
    finally:
        warm.close()


def test_a_request_id_remembered_by_an_older_server_still_deduplicates(redis_url: str) -> None:
    """Ids kept before runs were marked with their flow and props (a plain JSON reply) answer
    repeats as before, whatever their props."""
    engine = Engine(RedisSettings(redis_url), load_components([APP])).start()
    try:
        instance_id, request_id = unique("older"), unique("request")
        engine.run("Conformance", instance_id, "add", {"n": 1}, RunOptions(flush_update=True))
        key = InstanceKeys.of("Conformance", instance_id).request(request_id)
        redis.Redis.from_url(redis_url).set(key, '["0-0", 2, "1-0"]', px=60_000)
        repeat = engine.run("Conformance", instance_id, "add", {"n": 5}, RunOptions(request_id=request_id))
        assert (repeat.deduplicated, repeat.update_ids, repeat.version) == (True, ["1-0"], 2)
    finally:
        engine.close()


class _FailsEveryOther(motion_pb2_grpc.MotionServiceServicer):
    """Fails every other Run with `code` (a replica going away); records the request ids."""

    def __init__(self, code: grpc.StatusCode) -> None:
        self.code = code
        self.request_ids: list[str] = []

    def Run(self, request: pb.RunRequest, context: grpc.ServicerContext) -> pb.RunResponse:
        self.request_ids.append(request.request_id)
        if len(self.request_ids) % 2 == 1:
            context.abort(self.code, "going away")
        return pb.RunResponse(version=1, update_ids=["1-0"])


@pytest.mark.parametrize("code", [grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED])
def test_the_python_client_retries_a_run_with_the_same_request_id(code: grpc.StatusCode) -> None:
    """Retries come from the published service config, on by default; the id is new per call.
    CANCELLED is what a server shutting down answers the calls it received but had not started."""
    service = _FailsEveryOther(code)
    with fake_motion_server(service) as target, MotionClient(target) as client:
        handle = client.instance("Conformance", unique())
        assert handle.run_outcome("add").update_ids == ["1-0"]
        assert handle.run_outcome("add", request_id="mine-1").update_ids == ["1-0"]
    first, retried, second, second_retried = service.request_ids
    assert first and first == retried
    assert second == second_retried == "mine-1"
