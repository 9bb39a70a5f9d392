"""Large serve results, update changes, state writes and state reads are encoded off the event
loop, so a million values from one instance hold up no call of another; small ones with no hop.

Each value carries a Marker whose pickling records the thread it ran on: a value that is not
JSON-like is pickled for Redis (and for an accept_pickle reader) wherever it is encoded.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator
from typing import Any

import pytest
from grpc import aio

from motion_grpc import Component, codec
from motion_grpc._proto.motion.v1 import motion_pb2 as pb
from motion_grpc._proto.motion.v1 import motion_pb2_grpc
from motion_grpc.engine import AsyncEngine, EngineSettings, RunOptions
from motion_grpc.server.servicer import MotionServicer
from motion_grpc.store import RedisSettings
from tests.helpers import unique

LARGE = codec.LARGE_ITEMS + 1
SMALL = 10

#: Threads a Marker was pickled on (by thread ident).
_PICKLED_ON: list[int] = []


def _unpickled() -> Marker:
    return Marker()


class Marker:
    """A value that records the thread that pickles it."""

    def __reduce__(self) -> tuple[Any, tuple[()]]:
        _PICKLED_ON.append(threading.get_ident())
        return _unpickled, ()


def _marked(size: int) -> list[Any]:
    return [Marker(), *range(size)]


Values = Component("LargeValues")


@Values.init_state
def values_setup() -> dict[str, Any]:
    return {"rows": []}


@Values.serve("echo")
def values_echo(state: Any, props: Any) -> list[Any]:
    return _marked(props["size"])


@Values.update("fill")
def values_fill(state: Any, props: Any) -> dict[str, Any]:
    return {"rows": _marked(props["size"])}


class _Checks:
    """A server's result check: records the thread each result was checked on."""

    def __init__(self) -> None:
        self.threads: list[int] = []

    def __call__(self, result: Any) -> None:
        self.threads.append(threading.get_ident())


async def _engine(url: str) -> AsyncEngine:
    return await AsyncEngine(RedisSettings(url=url), [Values], EngineSettings()).start()


def _threads(url: str, work: Any) -> tuple[set[int], int]:
    """The threads Markers were pickled on while `work(engine)` ran, and the loop's thread."""

    async def main() -> tuple[set[int], int]:
        engine = await _engine(url)
        try:
            _PICKLED_ON.clear()
            await work(engine)
            return set(_PICKLED_ON), threading.get_ident()
        finally:
            await engine.close()

    return asyncio.run(main())


@pytest.mark.parametrize("size", [LARGE, SMALL])
def test_a_serve_result_is_checked_and_encoded_off_the_loop_when_large(redis_url: str, size: int) -> None:
    checks = _Checks()
    instance_id = unique("values")

    async def work(engine: AsyncEngine) -> None:
        result = await engine.run(Values.name, instance_id, "echo", {"size": size}, check_result=checks)
        assert len(result.result) == size + 1

    pickled_on, loop_thread = _threads(redis_url, work)
    assert pickled_on and checks.threads
    if size == LARGE:
        assert loop_thread not in pickled_on and loop_thread not in checks.threads
    else:
        assert pickled_on == set(checks.threads) == {loop_thread}


@pytest.mark.parametrize("size", [LARGE, SMALL])
def test_an_update_ops_changes_are_encoded_off_the_loop_only_when_large(redis_url: str, size: int) -> None:
    instance_id = unique("values")

    async def work(engine: AsyncEngine) -> None:
        await engine.run(Values.name, instance_id, "fill", {"size": size}, RunOptions(flush_update=True))
        view = await engine.get_state(Values.name, instance_id)
        assert len(view.state["rows"]) == size + 1 and isinstance(view.state["rows"][0], Marker)

    pickled_on, loop_thread = _threads(redis_url, work)
    assert pickled_on
    assert (loop_thread in pickled_on) is (size == SMALL)


@pytest.mark.parametrize("size", [LARGE, SMALL])
def test_a_state_write_is_encoded_off_the_loop_only_when_large(redis_url: str, size: int) -> None:
    instance_id = unique("values")

    async def work(engine: AsyncEngine) -> None:
        await engine.run(Values.name, instance_id, "fill", {"size": 0}, RunOptions(flush_update=True))
        _PICKLED_ON.clear()
        await engine.write_state(Values.name, instance_id, {"rows": _marked(size)})

    pickled_on, loop_thread = _threads(redis_url, work)
    assert pickled_on
    assert (loop_thread in pickled_on) is (size == SMALL)


@pytest.mark.parametrize("size", [LARGE, SMALL])
def test_get_state_encodes_a_large_state_off_the_loop(redis_url: str, size: int) -> None:
    instance_id = unique("values")

    async def main() -> tuple[set[int], int]:
        async with _serving(redis_url) as (engine, stub):
            await engine.run(Values.name, instance_id, "fill", {"size": size}, RunOptions(flush_update=True))
            _PICKLED_ON.clear()
            ref = pb.InstanceRef(component=Values.name, instance_id=instance_id)
            response = await stub.GetState(pb.GetStateRequest(instance=ref, accept_pickle=True))
            assert len(codec.unpickle_trusted(response.pickled_state["rows"])) == size + 1
            return set(_PICKLED_ON), threading.get_ident()

    pickled_on, loop_thread = asyncio.run(main())
    assert pickled_on
    assert (loop_thread in pickled_on) is (size == SMALL)


@contextlib.asynccontextmanager
async def _serving(url: str) -> AsyncIterator[tuple[AsyncEngine, Any]]:
    """An engine, and a stub of a real gRPC server in this process serving it."""
    engine = await _engine(url)
    server = aio.server()
    motion_pb2_grpc.add_MotionServiceServicer_to_server(MotionServicer(engine, allow_pickle=True), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield engine, motion_pb2_grpc.MotionServiceStub(channel)
    finally:
        await server.stop(None)
        await engine.close()
