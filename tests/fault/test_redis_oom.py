"""Redis out of memory (maxmemory, noeviction) for a while as an update commits: the commit is sent
again until Redis takes it, so the update is applied on its first attempt, never dropped as
AttemptsExhausted (as if its op had crashed)."""

from __future__ import annotations

import pathlib
import time

import pytest
import redis

from motion_grpc.engine import Engine
from motion_grpc.server.loader import load_components
from motion_grpc.store import RedisServer, RedisSettings
from motion_grpc.store.keys import InstanceKeys
from motion_grpc.store.records import parse_event
from tests.helpers import unique
from tests.integration.conftest import SEMANTICS_APP

pytestmark = pytest.mark.fault

APPLIED, FAILED = 3, 4


def test_an_update_whose_commit_meets_a_full_redis_is_applied_once_it_has_room(
    tmp_path: pathlib.Path,
) -> None:
    instance_id = unique("oom")
    with RedisServer(tmp_path / "redis", appendonly=False) as server:
        admin = redis.Redis.from_url(server.url)
        engine = Engine(RedisSettings(server.url), load_components([SEMANTICS_APP])).start()
        try:
            engine.run("Cached", instance_id, "bump", {})
            assert engine.flush("Cached", instance_id).version == 2
            engine.run("Cached", instance_id, "bump", {"sleep": 0.5})
            admin.config_set("maxmemory-policy", "noeviction")
            admin.config_set("maxmemory", 1)  # full: every write is refused until it has room again
            time.sleep(2.0)
            admin.config_set("maxmemory", 0)
            assert engine.flush("Cached", instance_id).version == 3
            assert engine.get_state("Cached", instance_id, ["n"]).state == {"n": 2}
            raw = admin.xrange(InstanceKeys.of("Cached", instance_id).events, "-", "+")
        finally:
            engine.close()
            admin.close()
    events = [parse_event(raw_id, fields) for raw_id, fields in raw]
    ended = [(event.status, event.attempt) for event in events if event.status in (APPLIED, FAILED)]
    assert ended == [(APPLIED, 1), (APPLIED, 1)]
