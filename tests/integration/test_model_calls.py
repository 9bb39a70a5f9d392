"""Ops that wait like model calls: many in flight at once, none holding up another, all bounded."""

from __future__ import annotations

import asyncio
import pathlib
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import grpc
import pytest
import redis
from grpc_health.v1 import health_pb2, health_pb2_grpc

from motion_grpc import AsyncMotionClient, MotionClient
from motion_grpc.errors import DeadlineExceededError, ResourceExhaustedError
from motion_grpc.server.loader import load_components
from motion_grpc.store import scripts
from motion_grpc.store.keys import pending_key
from tests.apps.modelcalls import OP_TIMEOUT
from tests.helpers import ROOT, ServerProcess, assert_eventually, unique
from tests.integration.conftest import events_of

MODEL_APP = str(pathlib.Path(ROOT) / "tests" / "apps" / "modelcalls.py")


@pytest.fixture(scope="module")
def model_server(redis_url: str) -> Iterator[ServerProcess]:
    with ServerProcess(apps=[MODEL_APP], redis_url=redis_url) as process:
        yield process


@pytest.fixture(scope="module")
def model_client(model_server: ServerProcess) -> Iterator[MotionClient]:
    with MotionClient(model_server.target) as client:
        client.wait_ready()
        yield client


def test_a_thousand_instances_drain_slow_async_updates_in_order_exactly_once(
    model_server: ServerProcess, redis_url: str
) -> None:
    """Every instance's updates apply once each, in enqueue order, while a thousand drains wait at once."""
    prefix = unique("crowd")
    ids = [f"{prefix}-{n}" for n in range(1000)]

    async def main() -> list[list[int]]:
        async with AsyncMotionClient(model_server.target) as client:
            handles = [client.instance("Chat", instance_id) for instance_id in ids]
            for i in range(3):  # each round: every user at once, a 0.2 s model call per update
                await asyncio.gather(*(h.run("say", {"i": i, "update": 0.2}) for h in handles))
            await asyncio.gather(*(h.flush(timeout=120) for h in handles))
            states = await asyncio.gather(*(h.get_state(["turns"]) for h in handles))
            return [state["turns"] for state in states]

    assert asyncio.run(main()) == [[0, 1, 2]] * len(ids)
    for instance_id in ids[:50]:
        applied = [e for e in events_of(redis_url, "Chat", instance_id) if e.status == scripts.APPLIED]
        assert [e.version for e in applied] == [2, 3, 4]


def test_a_drain_that_ends_idle_leaves_its_instance_to_no_sweep(redis_url: str) -> None:
    """The take that finds a queue empty takes the instance out of the pending set in the same
    script, so a thousand instances drained once cost the next sweep nothing (no take, no settle)."""
    pending = pending_key("Chat")
    server = ServerProcess(apps=[MODEL_APP], redis_url=redis_url, args=["--sweep-interval", "3600"])
    with server, MotionClient(server.target) as client, redis.Redis.from_url(redis_url) as store:
        idle, busy = client.instance("Chat", unique("idle")), client.instance("Chat", unique("busy"))
        idle.run("say", {"i": 0, "update": 0.05}, flush_update=True)
        assert store.zscore(pending, idle.instance_id) is None
        busy.run("say", {"i": 0, "update": 2})
        assert_eventually(
            lambda: any(e.status == scripts.RUNNING for e in events_of(redis_url, "Chat", busy.instance_id))
        )
        assert store.zscore(pending, busy.instance_id) is not None  # still at work
        busy.flush()
        assert store.zscore(pending, busy.instance_id) is None


def test_a_slow_update_of_one_instance_holds_up_no_other(model_client: MotionClient, redis_url: str) -> None:
    slow_id = unique("slow")
    model_client.instance("Chat", slow_id).run("say", {"i": 0, "update": 30})
    assert_eventually(lambda: any(e.status == scripts.RUNNING for e in events_of(redis_url, "Chat", slow_id)))
    others = [model_client.instance("Chat", unique("other")) for _ in range(20)]
    for handle in others:  # served and applied while the slow update is still in its model call
        assert handle.run("say", {"i": 1}, flush_update=True) == 0
        assert handle.get_state(["turns"]) == {"turns": [1]}
    ended = [e for e in events_of(redis_url, "Chat", slow_id) if e.status != scripts.QUEUED]
    assert [e.status for e in ended] == [scripts.RUNNING]
    model_client.instance("Chat", slow_id).delete()


def test_a_sync_op_that_turns_slow_never_blocks_the_event_loop(
    model_server: ServerProcess, model_client: MotionClient
) -> None:
    handle = model_client.instance("Blocking", unique("turns-slow"))
    for _ in range(30):  # measured cheap...
        handle.run("call", {})
    caller = threading.Thread(target=handle.run, args=("call", {"sleep": 5}))
    caller.start()  # ...then a call that blocks for seconds
    try:
        with grpc.insecure_channel(model_server.target) as channel:
            health = health_pb2_grpc.HealthStub(channel)
            for _ in range(10):  # a blocked loop would answer none of these before the 5 s call ends
                reply = health.Check(health_pb2.HealthCheckRequest(), timeout=1.0)
                assert reply.status == health_pb2.HealthCheckResponse.SERVING
    finally:
        caller.join()


def test_a_serve_op_past_its_timeout_answers_deadline_exceeded(model_client: MotionClient) -> None:
    for flow in ("ask", "sync_ask"):
        handle = model_client.instance("Limited", unique("serve-timeout"))
        with pytest.raises(DeadlineExceededError, match=f"timeout of {OP_TIMEOUT:g} s"):
            handle.run(flow, {"i": 0, "sleep": 5})
        assert handle.flush().failed == []  # nothing was enqueued for it
        assert handle.get_state(["done"]) == {"done": []}
        assert handle.run(flow, {"i": 1}, flush_update=True) == "answer"


def test_a_generator_that_stalls_past_its_serve_timeout_ends_its_stream(model_client: MotionClient) -> None:
    """The serve op's timeout bounds the wait for each item (it did not apply to generators: a
    stalled one held its call until --max-stream-seconds, an hour by default)."""
    for flow in ("tokens", "sync_tokens"):
        handle = model_client.instance("Limited", unique("stream-timeout"))
        items = []
        with pytest.raises(DeadlineExceededError, match=f"timeout of {OP_TIMEOUT:g} s"):
            for item in handle.stream(flow, {"i": 0, "stall": 5}):
                items.append(item)
        assert items == ["first"]
        assert handle.flush().failed == []  # nothing was enqueued for it
        assert list(handle.stream(flow, {"i": 1})) == ["first", "second"]
        assert handle.flush().version == 2


def test_a_sync_generator_stalled_past_its_timeout_is_closed_once_it_moves_again(
    model_client: MotionClient, tmp_path: pathlib.Path
) -> None:
    """Its `finally` (closing a model's stream, say) runs when the stalled step returns: closing it
    while that step still ran on its thread failed ("generator already executing"), and never ran."""
    marker = tmp_path / "closed"
    handle = model_client.instance("Limited", unique("stall-closed"))
    with pytest.raises(DeadlineExceededError):
        list(handle.stream("sync_tokens", {"i": 0, "stall": OP_TIMEOUT + 1, "marker": str(marker)}))
    assert not marker.exists()  # still stalled
    assert_eventually(lambda: marker.exists() and marker.read_text() == "closed\n", timeout=10)


def test_an_update_op_past_its_timeout_fails_and_the_queue_goes_on(model_client: MotionClient) -> None:
    for flow in ("ask", "sync_ask"):
        handle = model_client.instance("Limited", unique("update-timeout"))
        handle.run(flow, {"i": 0, "update": 5})
        handle.run(flow, {"i": 1})
        failed = handle.flush(timeout=30).failed
        assert [(o.error_type, o.status) for o in failed] == [("Timeout", scripts.FAILED)]
        assert f"timeout of {OP_TIMEOUT:g} s" in failed[0].error_message
        assert handle.get_state(["done"]) == {"done": [1]}


def test_sync_ops_that_hang_past_their_timeout_do_not_take_every_thread(redis_url: str) -> None:
    """An op's timeout counts from when a thread starts it, and a thread held by an op that never
    returns is replaced: before, the third instance's update waited for one of the two threads, hit
    its timeout unrun and ended FAILED, and the serve op of a fourth waited past its deadline."""
    args = ["--update-threads", "2", "--serve-threads", "2"]
    with (
        ServerProcess(apps=[MODEL_APP], redis_url=redis_url, args=args) as server,
        MotionClient(server.target) as client,
    ):
        hung = [client.instance("Limited", unique("hung")) for _ in range(2)]
        for handle in hung:
            handle.run("sync_ask", {"i": 0, "update": 8})
        for _ in range(2):
            with pytest.raises(DeadlineExceededError):
                client.instance("Limited", unique("hung-serve")).run("sync_ask", {"i": 0, "sleep": 8})
        for handle in hung:
            failed = handle.flush(timeout=30).failed
            assert [(o.error_type, o.status) for o in failed] == [("Timeout", scripts.FAILED)]
        others = [client.instance("Limited", unique("other")) for _ in range(3)]
        for n, handle in enumerate(others):  # the threads of the ops above are still held
            assert handle.run("sync_ask", {"i": n}, flush_update=True) == "answer"
            assert handle.get_state(["done"]) == {"done": [n]}


def test_thousands_of_calls_arriving_at_once_are_all_answered(model_server: ServerProcess) -> None:
    """gRPC Core's own queue of calls not yet picked up must not cancel any (its default did, past
    about 3,000, with a bare CANCELLED): only the server's named bounds may refuse a call."""
    instance_id = unique("crowd")

    async def main() -> list[object]:
        async with AsyncMotionClient(model_server.target) as client:
            handle = client.instance("Crowd", instance_id)
            await handle.run("wait", {"seconds": 0, "n": -1})
            calls = [handle.run("wait", {"seconds": 1.0, "n": n}) for n in range(4000)]
            return await asyncio.gather(*calls, return_exceptions=True)

    assert asyncio.run(main()) == list(range(4000))


def test_serves_past_the_bound_answer_resource_exhausted(redis_url: str) -> None:
    args = ["--max-concurrent-serves", "2", "--serve-queue", "1"]
    with ServerProcess(apps=[MODEL_APP], redis_url=redis_url, args=args) as server:

        async def main() -> list[object]:
            async with AsyncMotionClient(server.target) as client:
                calls = [
                    client.instance("Chat", unique("bound")).run("say", {"i": 0, "serve": 2})
                    for _ in range(6)
                ]
                return await asyncio.gather(*calls, return_exceptions=True)

        outcomes = asyncio.run(main())
    refused = [o for o in outcomes if isinstance(o, ResourceExhaustedError)]
    assert len(refused) == 3 and outcomes.count(0) == 3
    assert "--max-concurrent-serves 2" in refused[0].message


def test_in_process_runs_from_a_thousand_coroutines_and_threads(redis_url: str) -> None:
    (chat,) = [c for c in load_components([MODEL_APP]) if c.name == "Chat"]
    instances = [chat(unique("local"), redis_url=redis_url) for _ in range(1000)]

    async def main() -> list[int]:
        return await asyncio.gather(
            *(i.arun("say", {"i": 0, "serve": 0.2, "update": 0.2}) for i in instances)
        )

    assert asyncio.run(main()) == [0] * len(instances)
    with ThreadPoolExecutor(200) as pool:  # blocking callers, as many threads as a web app might have
        answers = list(pool.map(lambda i: i.run("say", {"i": 1, "serve": 0.2}), instances[:200]))
        assert set(answers) <= {0, 1}  # the first update may or may not be applied yet
        list(pool.map(lambda i: i.flush_update(), instances))
    assert [i.read_state("turns") for i in instances[:200]] == [[0, 1]] * 200
    assert all(i.read_state("turns") == [0] for i in instances[200:])
