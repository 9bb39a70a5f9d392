"""Redis losing its data under running engines (restarted without persistence, or flushed):
answers come from the state Redis holds now, never from copies of the state it lost."""

from __future__ import annotations

import pathlib
from collections.abc import Iterator

import pytest
import redis

from motion_grpc import MotionClient
from motion_grpc.engine import Engine
from motion_grpc.errors import StoreUnavailableError
from motion_grpc.server.loader import load_components
from motion_grpc.store import RedisServer, RedisSettings
from tests.helpers import ServerProcess, assert_eventually, unique
from tests.integration.conftest import SEMANTICS_APP


@pytest.fixture
def lossy_redis(tmp_path: pathlib.Path) -> Iterator[RedisServer]:
    """A Redis of this test alone (it is flushed and restarted), with no persistence."""
    server = RedisServer(tmp_path / "redis", appendonly=False).start()
    try:
        yield server
    finally:
        server.cleanup()


def _engine(url: str) -> Engine:
    return Engine(RedisSettings(url), load_components([SEMANTICS_APP])).start()


def _bumped(engine: Engine, instance_id: str, times: int) -> int:
    """Run the flow `times` times and wait for its updates; the version they reached."""
    for _ in range(times):
        engine.run("Cached", instance_id, "bump", {})
    return engine.flush("Cached", instance_id).version


def test_after_a_restart_without_persistence_answers_come_from_the_new_state(
    lossy_redis: RedisServer,
) -> None:
    instance_id = unique("restarted")
    engine = _engine(lossy_redis.url)
    try:
        assert _bumped(engine, instance_id, 5) == 6
        before = engine.run("Cached", instance_id, "read", {}).result
        assert engine.run("Cached", instance_id, "read", {}).result == before  # a cached answer
        lossy_redis.kill()
        lossy_redis.start()

        # The first call to meet the new Redis process is refused (retryable): it was decided on
        # state read before; the next ones go on.
        after = assert_eventually(
            lambda: engine.run("Cached", instance_id, "read", {}), retry_on=(StoreUnavailableError,)
        )
        assert after.result["n"] == 0 and after.version == 1
        assert engine.run("Cached", instance_id, "bump", {}).result == 0
        assert engine.flush("Cached", instance_id).version == 2
        assert engine.get_state("Cached", instance_id, ["n"]).state == {"n": 1}
    finally:
        engine.close()


def test_after_a_flush_another_engine_recreated_the_instance_answers_follow_it(
    lossy_redis: RedisServer,
) -> None:
    """No restart to notice: the engine that held the lost state sees Redis behind its copy."""
    instance_id = unique("flushed")
    first, second = _engine(lossy_redis.url), _engine(lossy_redis.url)
    try:
        assert _bumped(first, instance_id, 5) == 6
        assert first.run("Cached", instance_id, "read", {}).result["n"] == 5
        client = redis.Redis.from_url(lossy_redis.url)
        try:
            client.flushall()
        finally:
            client.close()
        assert _bumped(second, instance_id, 2) == 3

        assert first.run("Cached", instance_id, "read", {}).result["n"] == 2
        assert first.run("Cached", instance_id, "bump", {}).result == 2
        assert first.flush("Cached", instance_id).version == 4
        assert second.get_state("Cached", instance_id, ["n"]).state == {"n": 3}
    finally:
        first.close()
        second.close()


def test_a_replica_never_answers_from_lost_state_that_another_rebuilt_to_the_same_version(
    lossy_redis: RedisServer,
) -> None:
    """Redis restarted empty; replica B rebuilt the instance to the version replica A last saw:
    A answers from B's state (and its update lands on it), not from its copy of the lost one."""
    instance_id = unique("collided")
    with (
        ServerProcess(apps=[SEMANTICS_APP], redis_url=lossy_redis.url) as first,
        ServerProcess(apps=[SEMANTICS_APP], redis_url=lossy_redis.url) as second,
        MotionClient(first.target) as via_first,
        MotionClient(second.target) as via_second,
    ):
        old = via_first.instance("Cached", instance_id)
        for _ in range(5):
            old.run("bump", {})
        assert old.flush().version == 6
        lossy_redis.kill()
        lossy_redis.start()

        rebuilt = via_second.instance("Cached", instance_id)
        assert_eventually(lambda: rebuilt.run_outcome("bump", {}), retry_on=(StoreUnavailableError,))
        assert rebuilt.flush().version == 2
        rebuilt.write_state({"n": 100})
        for _ in range(3):
            rebuilt.run("bump", {})
        assert rebuilt.flush().version == 6  # the version replica A last saw, over other state

        answer = assert_eventually(lambda: old.run_outcome("bump", {}), retry_on=(StoreUnavailableError,))
        assert answer.result == 103
        assert rebuilt.flush().version == 7
        assert rebuilt.get_state(["n"]) == {"n": 104}
