"""Redis losing its data under running engines (restarted without persistence, or flushed):
answers come from the state Redis holds now, never from copies of the state it lost."""

from __future__ import annotations

import pathlib
from collections.abc import Iterator

import pytest
import redis

from motion_grpc.engine import Engine
from motion_grpc.server.loader import load_components
from motion_grpc.store import RedisServer, RedisSettings
from tests.helpers import unique
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

        after = engine.run("Cached", instance_id, "read", {})
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
