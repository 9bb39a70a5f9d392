"""Update slots are shared: a busy instance turns its slot over to those waiting for one."""

from __future__ import annotations

from motion_grpc.engine import Engine, EngineSettings
from motion_grpc.instance import ComponentInstance
from motion_grpc.server.loader import load_components
from motion_grpc.store import RedisServer, RedisSettings
from tests.helpers import unique
from tests.integration.conftest import SEMANTICS_APP

QUEUED = 10


def test_a_waiting_instance_gets_a_slot_before_busy_instances_empty_their_queues() -> None:
    # A Redis of its own: no other test's server applies these instances' updates meanwhile.
    with RedisServer(appendonly=False) as own:
        settings = EngineSettings(max_concurrent_updates=2)
        engine = Engine(RedisSettings(own.url), load_components([SEMANTICS_APP]), settings).start()
        try:
            busy, late = [_instance(engine) for _ in range(2)], _instance(engine)
            for _ in range(QUEUED):  # both slots taken, each by a queue of 2 s of updates
                for instance in busy:
                    instance.run("bump", {"sleep": 0.2})
            late.run("bump", {"sleep": 0.0}, flush_update=True)
            assert late.read_state("n") == 1
            applied = [instance.read_state("n") for instance in busy]
            assert max(applied) < QUEUED, applied  # it did not wait for a busy queue to empty
            for instance in busy:  # and every update of theirs is still applied, once
                instance.flush_update()
                assert instance.read_state("n") == QUEUED
        finally:
            engine.close()


def _instance(engine: Engine) -> ComponentInstance:
    return ComponentInstance(
        engine.component("Migr"), unique("fair"), init_state_params={"n": 0}, engine=engine
    )
