"""Flushes waiting on slow updates: woken by this replica's own drain, or by the events stream.

A flush of an instance this replica drains sleeps until its drain commits and
holds no Redis connection meanwhile; a flush sent to another replica waits on
the events stream (a blocking XREAD) and returns as soon as the update ends.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import pytest
import redis

from motion_grpc import AsyncMotionClient, MotionClient
from motion_grpc.store.embedded import RedisServer
from tests.helpers import ServerProcess, servers_running, unique
from tests.integration.test_model_calls import MODEL_APP

FLUSHES = 300
UPDATE_SECONDS = 1.5


@pytest.fixture(scope="module")
def own_redis() -> Iterator[RedisServer]:
    """A Redis of this module's own: its blocked clients are this module's waiters only."""
    with RedisServer() as server:
        yield server


@pytest.fixture(scope="module")
def replicas(own_redis: RedisServer) -> Iterator[list[ServerProcess]]:
    started = [ServerProcess(apps=[MODEL_APP], redis_url=own_redis.url) for _ in range(2)]
    with servers_running(started) as running:
        yield running


@pytest.fixture(scope="module")
def lone() -> Iterator[tuple[RedisServer, ServerProcess]]:
    """A server alone on a Redis of its own: it drains every instance its calls enqueue for (no
    other replica's sweep can take one before its drain does), and the Redis's blocked clients are
    its waiters only."""
    with RedisServer() as redis_server, ServerProcess(apps=[MODEL_APP], redis_url=redis_server.url) as server:
        yield redis_server, server


class BlockedClients:
    """The most clients Redis had blocked (in XREAD BLOCK) at once, sampled until stopped."""

    def __init__(self, url: str) -> None:
        self._client = redis.Redis.from_url(url)
        self._stop = threading.Event()
        self.most = 0
        self.samples = 0
        self._thread = threading.Thread(target=self._sample)

    def __enter__(self) -> BlockedClients:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._client.close()

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            blocked = int(self._client.info("clients")["blocked_clients"])
            self.most = max(self.most, blocked)
            self.samples += 1


def _run_then_flush(target: str, ids: list[str], flush_target: str) -> list[list[int]]:
    async def main() -> list[list[int]]:
        async with AsyncMotionClient(target) as runner, AsyncMotionClient(flush_target) as flusher:
            await asyncio.gather(
                *(runner.instance("Chat", i).run("say", {"i": 7, "update": UPDATE_SECONDS}) for i in ids)
            )
            await asyncio.gather(*(flusher.instance("Chat", i).flush(timeout=60) for i in ids))
            states = await asyncio.gather(*(flusher.instance("Chat", i).get_state(["turns"]) for i in ids))
            return [state["turns"] for state in states]

    return asyncio.run(main())


def test_flushes_of_instances_this_replica_drains_hold_no_redis_connection(
    lone: tuple[RedisServer, ServerProcess],
) -> None:
    redis_server, server = lone
    ids = [unique("local") for _ in range(FLUSHES)]
    with BlockedClients(redis_server.url) as blocked:
        turns = _run_then_flush(server.target, ids, server.target)
    assert turns == [[7]] * FLUSHES  # every flush returned after its update was applied
    assert blocked.samples > 10
    assert blocked.most < 10, f"{blocked.most} clients blocked in Redis while flushes waited"


def test_a_flush_on_another_replica_waits_on_the_events_stream(
    own_redis: RedisServer, replicas: list[ServerProcess]
) -> None:
    ids = [unique("remote") for _ in range(20)]
    with BlockedClients(own_redis.url) as blocked:
        turns = _run_then_flush(replicas[0].target, ids, replicas[1].target)
    assert turns == [[7]] * len(ids)
    assert blocked.most >= 1  # replica 1 drains nothing of these: it waited on their streams


def test_flush_update_and_write_state_return_after_their_own_update(replicas: list[ServerProcess]) -> None:
    with MotionClient(replicas[0].target) as client:
        handle = client.instance("Chat", unique("own"))
        handle.run("say", {"i": 1, "update": 0.3})
        handle.run("say", {"i": 2, "update": 0.3}, flush_update=True)
        assert handle.get_state(["turns"]) == {"turns": [1, 2]}
        handle.write_state({"turns": [9]})
        assert handle.get_state(["turns"]) == {"turns": [9]}
