"""Fixtures of the semantics tests: a server hosting tests/apps/semantics.py, and engines in this process."""

from __future__ import annotations

import pathlib
import secrets
from collections.abc import Callable, Iterator

import pytest
import redis

from motion_grpc import MotionClient, trust
from motion_grpc.component import Component
from motion_grpc.engine import Engine, EngineSettings
from motion_grpc.server.loader import load_components
from motion_grpc.store import RedisSettings
from motion_grpc.store.keys import InstanceKeys
from motion_grpc.store.records import Event, parse_event
from tests.helpers import ROOT, ServerProcess

SEMANTICS_APP = str(pathlib.Path(ROOT) / "tests" / "apps" / "semantics.py")


@pytest.fixture(scope="session")
def state_secret(tmp_path_factory: pytest.TempPathFactory) -> Iterator[pathlib.Path]:
    """A state secret shared by the semantics server and this process's engines, so a migration
    function queued here (a pickle that names code) is signed and the server runs it."""
    path = tmp_path_factory.mktemp("state-secret") / "secret"
    path.write_text(secrets.token_urlsafe(48))
    trust.configure(trust.Trust(trust.read_secrets(str(path)), load_unsigned=True))
    yield path
    trust.configure(None)


@pytest.fixture(scope="session")
def semantics_server(redis_url: str, state_secret: pathlib.Path) -> Iterator[ServerProcess]:
    args = ["--update-workers", "4", "--state-secret-file", str(state_secret)]
    with ServerProcess(apps=[SEMANTICS_APP], redis_url=redis_url, args=args) as process:
        yield process


@pytest.fixture(scope="session")
def semantics_client(semantics_server: ServerProcess) -> Iterator[MotionClient]:
    with MotionClient(semantics_server.target) as motion_client:
        motion_client.wait_ready()
        yield motion_client


@pytest.fixture
def make_engine(redis_url: str) -> Iterator[Callable[..., Engine]]:
    """Engines in this process hosting the semantics app (closed after the test)."""
    engines: list[Engine] = []

    def make(**kwargs: object) -> Engine:
        engine = Engine(RedisSettings(redis_url), load_components([SEMANTICS_APP]), **kwargs)
        engines.append(engine.start())
        return engine

    yield make
    for engine in engines:
        engine.close()


@pytest.fixture
def engine(make_engine: Callable[..., Engine]) -> Engine:
    return make_engine()


def semantics(engine: Engine, name: str) -> Component:
    return engine.component(name)


def events_of(redis_url: str, component: str, instance_id: str) -> list[Event]:
    """Every update-status event of an instance, oldest first."""
    client = redis.Redis.from_url(redis_url)
    try:
        raw = client.xrange(InstanceKeys.of(component, instance_id).events, "-", "+")
        return [parse_event(raw_id, fields) for raw_id, fields in raw]
    finally:
        client.close()


def queued_unapplied(
    redis_url: str, component: Component, instance_id: str, flow: str, props: list[dict[str, object]]
) -> list[str]:
    """Runs enqueued by an engine that applies nothing (as a replica that died would leave them
    queued); their update ids."""
    enqueuer = Engine(RedisSettings(redis_url), [component], EngineSettings(process_updates=False)).start()
    try:
        return [enqueuer.run(component.name, instance_id, flow, each).update_ids[0] for each in props]
    finally:
        enqueuer.close()


def mark_started(redis_url: str, component: str, instance_id: str, update_id: str, times: int) -> None:
    """Count `update_id` as started `times` times already, each in a process that then died."""
    client = redis.Redis.from_url(redis_url)
    try:
        client.hset(InstanceKeys.of(component, instance_id).attempts, update_id, times)
    finally:
        client.close()
