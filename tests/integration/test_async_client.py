"""The asyncio client against a real server."""

from __future__ import annotations

import asyncio

import pytest

from motion_grpc import AsyncMotionClient
from motion_grpc.errors import InvalidArgumentError, NotFoundError
from tests.helpers import ServerProcess, unique


def test_async_client_runs_flushes_and_reads(server: ServerProcess) -> None:
    async def main() -> None:
        async with AsyncMotionClient(server.target) as client:
            handle = client.instance("Ledger", unique("aio"))
            results = await asyncio.gather(*(handle.run("append", {"i": i}) for i in range(10)))
            assert all(0 <= size <= 9 for size in results)
            flushed = await handle.flush(timeout=30)
            assert flushed.version == 11
            assert sorted((await handle.get_state(["items"]))["items"]) == list(range(10))
            assert await handle.version() == 11
            assert await handle.write_state({"items": []}) == 12
            outcome = await handle.run_outcome("append", {"i": 5}, flush_update=True)
            assert (outcome.result, outcome.version) == (0, 13)
            with pytest.raises(NotFoundError):
                await handle.run("nope")
            with pytest.raises(InvalidArgumentError):
                await client.instance("Ledger", "").run("append", {"i": 1})
            assert "Ledger" in [info.name for info in await client.describe()]

    asyncio.run(main())
