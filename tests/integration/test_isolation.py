"""Retried updates that cannot be run for want of a process: handed back uncounted, each time later."""

from __future__ import annotations

import asyncio
import pathlib

import pytest

from motion_grpc.engine.draining import DrainBackoffError
from motion_grpc.engine.options import EngineSettings
from motion_grpc.server import isolation
from motion_grpc.server.isolation import IsolatedUpdates
from motion_grpc.store import RedisSettings
from motion_grpc.store.keys import InstanceKeys
from motion_grpc.store.records import Taken
from tests.apps.testapp import Ledger

KEYS = InstanceKeys.of(Ledger.name, "isolated")
UNREACHABLE = RedisSettings(url="redis://127.0.0.1:1/0")  # never reached: nothing here is applied


def _taken(attempt: int) -> Taken:
    return Taken(code=0, attempts=[attempt])


async def _hand_back(updates: IsolatedUpdates, attempt: int) -> DrainBackoffError:
    with pytest.raises(DrainBackoffError) as caught:
        await updates(KEYS, Ledger.definition, _taken(attempt))
    return caught.value


def test_a_later_attempt_finding_every_process_busy_backs_off_uncounted_twice_as_long_each_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(isolation, "SLOT_WAIT_SECONDS", 0.05)

    async def main() -> None:
        updates = IsolatedUpdates(["unused.py"], UNREACHABLE, EngineSettings())
        slots = updates._alone._slots  # held here as MAX_ALONE hung retries would hold them
        for _ in range(isolation.MAX_ALONE):
            await slots.acquire()
        busy = [await _hand_back(updates, 3) for _ in range(4)]
        assert [error.counted for error in busy] == [False] * 4
        assert [error.delay for error in busy] == [1.0, 2.0, 4.0, 8.0]
        assert "all 4 processes for retried updates are busy" in busy[0].reason

        slots.release()  # one frees up: the next attempt gets it (and meets a closed lane: no child)
        await updates.close()
        stopping = await _hand_back(updates, 3)
        assert (stopping.counted, stopping.delay) == (False, 1.0)
        assert "stopping" in stopping.reason

        await slots.acquire()  # all busy again: the streak starts over
        again = await _hand_back(updates, 4)
        assert (again.counted, again.delay) == (False, 1.0)

    asyncio.run(main())


def test_a_retry_process_that_will_not_start_backs_off_uncounted_twice_as_long_each_time(
    tmp_path: pathlib.Path,
) -> None:
    """A child that cannot import its apps dies at once: neither lane counts that against the entry."""
    missing = str(tmp_path / "no_such_app.py")

    async def main() -> None:
        updates = IsolatedUpdates([missing], UNREACHABLE, EngineSettings())
        try:
            errors = [
                await _hand_back(updates, 2),  # the shared lane
                await _hand_back(updates, 3),  # an alone one: the same streak of failed starts
                await _hand_back(updates, 2),
            ]
        finally:
            await updates.close()
        assert [error.counted for error in errors] == [False] * 3
        assert [error.delay for error in errors] == [1.0, 2.0, 4.0]
        assert all("did not start" in error.reason for error in errors), [e.reason for e in errors]

    asyncio.run(main())


def test_hand_backs_never_wait_longer_than_the_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(isolation, "SLOT_WAIT_SECONDS", 0.01)

    async def main() -> None:
        updates = IsolatedUpdates(["unused.py"], UNREACHABLE, EngineSettings())
        for _ in range(isolation.MAX_ALONE):
            await updates._alone._slots.acquire()
        delays = [(await _hand_back(updates, 5)).delay for _ in range(10)]
        assert delays[-4:] == [isolation.HAND_BACK_MAX_SECONDS] * 4
        assert delays == sorted(delays)

    asyncio.run(main())
