"""How ops are called from the loop, and what counts as an op's own time."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from motion_grpc.engine.runner import OpRunner, OpTimeoutError
from motion_grpc.errors import DeadlineExceededError, OpError


def test_a_sync_op_is_timed_on_its_thread_not_while_it_waits_for_one() -> None:
    runner = OpRunner(1, "test")
    release = threading.Event()

    async def main() -> tuple[float, float]:
        started = time.perf_counter()
        busy = runner.offload(release.wait, 5.0)  # the only thread is taken
        asyncio.get_running_loop().call_later(0.5, release.set)
        result, seconds = await runner.timed_call("op", lambda a, b: a + b, (1, 2), None)
        assert result == 3
        await busy
        return seconds, time.perf_counter() - started

    try:
        seconds, waited = asyncio.run(main())
    finally:
        runner.close()
    assert waited >= 0.45  # the call waited for the thread...
    assert seconds < waited / 2  # ...but the op itself did next to nothing


def test_a_coroutine_op_is_timed_to_its_end() -> None:
    runner = OpRunner(1, "test")

    async def slow(delay: float) -> str:
        await asyncio.sleep(delay)
        return "done"

    def returns_a_coroutine(delay: float) -> object:
        return slow(delay)

    async def main() -> None:
        # at least the sleep (less a timer's rounding), however little the sync part took
        assert (await runner.timed_call("op", slow, (0.05,), None))[1] >= 0.045
        result, seconds = await runner.timed_call("op", returns_a_coroutine, (0.05,), None)
        assert (result, seconds >= 0.045) == ("done", True)

    try:
        asyncio.run(main())
    finally:
        runner.close()


def test_errors_and_timeouts_of_timed_calls_are_those_of_calls() -> None:
    runner = OpRunner(2, "test")

    def fails() -> None:
        raise ValueError("bad input")

    async def main() -> None:
        with pytest.raises(OpError, match="bad input"):
            await runner.timed_call("op", fails, (), None)
        with pytest.raises(OpTimeoutError, match=r"within its timeout of 0\.05 s"):
            await runner.timed_call("op", asyncio.sleep, (5,), 0.05)

    try:
        asyncio.run(main())
    finally:
        runner.close()


@pytest.mark.parametrize("timeout", [None, 5.0])
def test_a_timeout_an_op_raises_itself_is_its_error_not_its_timeout(timeout: float | None) -> None:
    """A nested call past its own deadline raises DeadlineExceededError (a TimeoutError) in the op:
    that is the op's error, named as it came, and not this op running past its timeout."""
    runner = OpRunner(1, "test")

    def nested() -> None:
        raise DeadlineExceededError("the nested call's deadline passed")

    def plain() -> None:
        raise TimeoutError("a socket timed out")

    async def main() -> None:
        with pytest.raises(
            OpError, match="raised DeadlineExceededError: the nested call's deadline"
        ) as raised:
            await runner.call("op", nested, (), timeout)
        assert not isinstance(raised.value, OpTimeoutError)
        assert raised.value.error_type == "DeadlineExceededError"
        assert isinstance(raised.value.__cause__, DeadlineExceededError)
        with pytest.raises(OpError, match="raised TimeoutError: a socket timed out"):
            await runner.call("op", plain, (), timeout)

    try:
        asyncio.run(main())
    finally:
        runner.close()
