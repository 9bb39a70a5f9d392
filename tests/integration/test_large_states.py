"""A large state is decoded off the event loop, so loading it holds up no other call."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from motion_grpc import Component
from motion_grpc.engine import AsyncEngine, EngineSettings, RunOptions
from motion_grpc.engine.instances import DECODE_HERE_BYTES
from motion_grpc.store import RedisSettings
from tests.helpers import unique

#: Threads a Marker was unpickled on (by thread ident).
_LOADED_ON: list[int] = []


def _loaded() -> Marker:
    _LOADED_ON.append(threading.get_ident())
    return Marker()


class Marker:
    """A value that records the thread that unpickles it (pickles are trusted in-process by default)."""

    def __reduce__(self) -> tuple[Any, tuple[()]]:
        return _loaded, ()


Blobs = Component("LargeStateBlobs")


@Blobs.init_state
def blobs_setup() -> dict[str, Any]:
    return {"blob": b"", "marker": None}


@Blobs.update("fill")
def blobs_fill(state: Any, props: Any) -> dict[str, Any]:
    return {"blob": b"x" * props["size"], "marker": Marker()}


def _engine(url: str) -> AsyncEngine:
    return AsyncEngine(RedisSettings(url=url), [Blobs], EngineSettings())


def _threads_a_cold_load_decodes_on(url: str, size: int) -> tuple[set[int], int]:
    """The threads a fresh engine (no snapshot yet) unpickled the state on, and its loop's thread."""
    instance_id = unique("blobs")

    async def write() -> None:
        engine = await _engine(url).start()
        try:
            await engine.run(Blobs.name, instance_id, "fill", {"size": size}, RunOptions(flush_update=True))
        finally:
            await engine.close()

    async def read() -> tuple[set[int], int]:
        engine = await _engine(url).start()
        try:
            _LOADED_ON.clear()
            view = await engine.get_state(Blobs.name, instance_id)
            assert len(view.state["blob"]) == size and isinstance(view.state["marker"], Marker)
            return set(_LOADED_ON), threading.get_ident()
        finally:
            await engine.close()

    asyncio.run(write())
    return asyncio.run(read())


def test_a_state_larger_than_the_limit_is_decoded_on_another_thread_than_the_loop(redis_url: str) -> None:
    decoded_on, loop_thread = _threads_a_cold_load_decodes_on(redis_url, 2 * DECODE_HERE_BYTES)
    assert decoded_on and loop_thread not in decoded_on


def test_a_small_state_is_decoded_on_the_loop_with_no_hop(redis_url: str) -> None:
    decoded_on, loop_thread = _threads_a_cold_load_decodes_on(redis_url, 100)
    assert decoded_on == {loop_thread}
