"""--max-state-bytes: an update or a state write that would grow an instance's encoded state past
the limit fails with the limit named, the state unchanged, the queue going on."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from motion_grpc import Component, MotionClient
from motion_grpc._proto.motion.v1 import motion_pb2 as pb
from motion_grpc.engine import AsyncEngine, EngineSettings, RunOptions
from motion_grpc.errors import NotFoundError, ResourceExhaustedError
from motion_grpc.server import load_components
from motion_grpc.store import RedisSettings
from tests.helpers import TEST_APP, ServerProcess, unique

LIMIT = 3000
ITEM = "x" * 1000  # three of them encode past LIMIT, two do not


@pytest.fixture(scope="module")
def client(redis_url: str) -> Iterator[MotionClient]:
    args = ["--max-state-bytes", str(LIMIT)]
    with (
        ServerProcess(apps=[TEST_APP], redis_url=redis_url, args=args) as process,
        MotionClient(process.target) as motion_client,
    ):
        yield motion_client


def test_an_update_past_the_limit_fails_and_the_queue_goes_on(client: MotionClient) -> None:
    ledger = client.instance("Ledger", unique())
    for i in range(2):
        outcome = ledger.run_outcome("append", {"i": f"{i}{ITEM}"}, flush_update=True)
        assert [o.status for o in outcome.update_outcomes] == [pb.UPDATE_STATUS_APPLIED]
    before = ledger.get_state()
    for props in ({"i": f"2{ITEM}"}, {"i": 3}):  # queued back to back: the small one follows
        ledger.run("append", props)
    flushed = ledger.flush()
    assert [(o.status, o.error_type) for o in flushed.failed] == [(pb.UPDATE_STATUS_FAILED, "StateTooLarge")]
    assert str(LIMIT) in flushed.failed[0].error_message
    assert "--max-state-bytes" in flushed.failed[0].error_message
    assert ledger.get_state()["items"] == [*before["items"], 3]


def test_a_state_write_past_the_limit_is_resource_exhausted(client: MotionClient) -> None:
    ledger = client.instance("Ledger", unique())
    ledger.run("append", {"i": 1}, flush_update=True)
    with pytest.raises(ResourceExhaustedError, match=f"over the limit of {LIMIT} bytes \\(--max-state-bytes"):
        ledger.write_state({"big": "y" * 4000})
    assert ledger.get_state() == {"items": [1]}
    ledger.write_state({"items": ["z" * 2000]})  # under the limit: written
    assert ledger.get_state() == {"items": ["z" * 2000]}


def test_in_process_engines_have_the_same_limit(redis_url: str) -> None:
    """EngineSettings carries the flag's default, and an engine enforces it without any server."""
    assert EngineSettings().max_state_bytes == 16 * 1024 * 1024

    async def scenario() -> None:
        settings = EngineSettings(max_state_bytes=LIMIT)
        engine = await AsyncEngine(
            RedisSettings(url=redis_url), load_components([TEST_APP]), settings
        ).start()
        try:
            instance_id = unique()
            await engine.run("Ledger", instance_id, "append", {"i": 1}, RunOptions(flush_update=True))
            with pytest.raises(ResourceExhaustedError, match="--max-state-bytes"):
                await engine.write_state("Ledger", instance_id, {"big": "y" * 4000})
            assert (await engine.get_state("Ledger", instance_id)).state == {"items": [1]}
        finally:
            await engine.close()

    asyncio.run(scenario())


Sized = Component("SizedInit")


@Sized.init_state
def sized_setup(size: int = 0) -> dict[str, str]:
    return {"blob": "b" * size}


@Sized.serve("read")
def sized_read(state: Any, props: Any) -> int:
    return len(state["blob"])


def test_an_init_state_past_the_limit_creates_no_instance(redis_url: str) -> None:
    async def scenario() -> None:
        settings = EngineSettings(max_state_bytes=LIMIT)
        engine = await AsyncEngine(RedisSettings(url=redis_url), [Sized], settings).start()
        try:
            big, small = unique(), unique()
            with pytest.raises(ResourceExhaustedError, match=r"init_state of SizedInit .*--max-state-bytes"):
                await engine.run("SizedInit", big, "read", {}, RunOptions(init_state_params={"size": 4000}))
            with pytest.raises(NotFoundError):
                await engine.get_state("SizedInit", big)
            options = RunOptions(init_state_params={"size": 2000})
            assert (await engine.run("SizedInit", small, "read", {}, options)).result == 2000
        finally:
            await engine.close()

    asyncio.run(scenario())
