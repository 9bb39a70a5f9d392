"""Session fixtures: a real Redis and a real server, started here and stopped here."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from motion_grpc import MotionClient
from motion_grpc.store import RedisServer
from tests.helpers import ServerProcess
from tests.processes import kill_all, left_running, mark_session

#: Set before any test starts a process, so every process the session starts carries it.
SESSION_MARK = mark_session()
#: Seconds the session's processes get to finish exiting at its end.
EXIT_GRACE = 10.0


@pytest.fixture(scope="session", autouse=True)
def no_process_left_behind() -> Iterator[None]:
    """Fail the session, naming them, when processes the tests started outlive it; then kill them.

    Autouse and session-scoped, it is set up first and torn down last, after
    every other fixture has stopped what it started.
    """
    yield
    left = left_running(SESSION_MARK, EXIT_GRACE)
    if left:
        kill_all(left)
        listing = "\n  ".join(str(info) for info in left)
        message = f"{len(left)} processes started by the tests outlived them (now killed):\n  {listing}"
        pytest.fail(message, pytrace=False)


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
