"""The threads sync user code runs on: results, errors, cancellation, the cap, closing."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from motion_grpc.engine.op_threads import OpThreads

Make = Callable[..., OpThreads]


@pytest.fixture
def make() -> Iterator[Make]:
    """OpThreads made by a test, closed after it."""
    made: list[OpThreads] = []

    def new(max_threads: int, name: str = "test") -> OpThreads:
        made.append(OpThreads(max_threads, name))
        return made[-1]

    yield new
    for threads in made:
        threads.close()


def test_results_and_errors_reach_the_awaiting_loop(make: Make) -> None:
    threads = make(4)

    async def main() -> None:
        assert await threads.submit(lambda a, b: (a + b, threading.current_thread().name), 1, 2) == (
            3,
            "test_1",
        )
        with pytest.raises(KeyError, match="missing"):
            await threads.submit({}.__getitem__, "missing")

    asyncio.run(main())


def test_a_stop_iteration_arrives_as_an_error_rather_than_hanging_the_caller(make: Make) -> None:
    threads = make(1)

    async def main() -> None:
        with pytest.raises(RuntimeError, match="StopIteration"):
            await asyncio.wait_for(threads.submit(next, iter([])), 5)

    asyncio.run(main())


def test_threads_start_on_demand_up_to_the_cap_and_are_reused(make: Make) -> None:
    threads = make(3)
    running = 0
    most = 0
    lock = threading.Lock()

    def slow() -> None:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.05)
        with lock:
            running -= 1

    async def main() -> None:
        for _ in range(5):  # one at a time: one thread serves them all
            await threads.submit(time.sleep, 0)
        assert threads.threads == 1
        await asyncio.gather(*(threads.submit(slow) for _ in range(9)))

    asyncio.run(main())
    assert threads.threads == 3
    assert most == 3


def test_a_job_cancelled_before_it_starts_never_runs(make: Make) -> None:
    threads = make(1)
    ran: list[str] = []
    release = threading.Event()

    async def main() -> None:
        busy = threads.submit(release.wait, 5)
        queued = threads.submit(ran.append, "queued")
        queued.cancel()
        release.set()
        await busy
        await threads.submit(ran.append, "after")

    asyncio.run(main())
    assert ran == ["after"]


def test_a_timed_out_call_is_let_go_and_its_late_result_dropped(make: Make) -> None:
    threads = make(1)

    async def main() -> None:
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(threads.submit(time.sleep, 0.2), 0.01)
        assert await threads.submit(lambda: "next") == "next"  # after the slow one returned

    asyncio.run(main())


def test_close_cancels_jobs_not_started_and_refuses_new_ones(make: Make) -> None:
    threads = make(1)
    release = threading.Event()

    async def main() -> None:
        busy = threads.submit(release.wait, 5)
        queued = threads.submit(lambda: "never")
        await asyncio.sleep(0.01)  # the thread holds `busy`
        threads.close()
        await asyncio.sleep(0)
        assert queued.cancelled()
        with pytest.raises(RuntimeError, match="closed"):
            threads.submit(time.sleep, 0)
        release.set()
        assert await busy is True

    asyncio.run(main())


def test_a_call_that_never_returns_does_not_hold_the_process() -> None:
    threads = OpThreads(1, "test-hung")
    hung = threading.Event()

    async def main() -> None:
        threads.submit(hung.wait)
        await asyncio.sleep(0.01)

    asyncio.run(main())
    threads.close()
    try:
        assert [t.daemon for t in threading.enumerate() if t.name.startswith("test-hung_")] == [True]
    finally:
        hung.set()
