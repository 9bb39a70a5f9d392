"""Session fixtures: a real Redis and a real server, started here and stopped here."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from motion_grpc import MotionClient
from motion_grpc.store import RedisServer
from tests.helpers import ServerProcess


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    with RedisServer(appendonly=False) as server:
        yield server


@pytest.fixture(scope="session")
def redis_url(redis_server: RedisServer) -> str:
    return redis_server.url


@pytest.fixture(scope="session")
def server(redis_url: str) -> Iterator[ServerProcess]:
    with ServerProcess(redis_url=redis_url, args=["--update-workers", "4"]) as process:
        yield process


@pytest.fixture(scope="session")
def client(server: ServerProcess) -> Iterator[MotionClient]:
    with MotionClient(server.target) as motion_client:
        motion_client.wait_ready()
        yield motion_client
