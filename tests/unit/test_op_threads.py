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

    def new(max_threads: int, name: str = "test", idle_seconds: float = 60.0) -> OpThreads:
        made.append(OpThreads(max_threads, name, idle_seconds))
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


def test_a_calls_timeout_counts_from_when_a_thread_starts_it(make: Make) -> None:
    threads = make(1)

    async def main() -> None:
        busy = threads.submit(time.sleep, 0.3)  # the only thread, for 0.3 s
        started = time.monotonic()
        assert await threads.call(0.2, lambda: "ran") == "ran"  # waited 0.3 s for the thread, ran at once
        assert time.monotonic() - started >= 0.25
        await busy
        with pytest.raises(TimeoutError):
            await threads.call(0.05, time.sleep, 0.5)

    asyncio.run(main())


def test_calls_left_running_get_their_threads_replaced_up_to_the_pools_size(make: Make) -> None:
    threads = make(2)
    release = threading.Event()

    async def main() -> None:
        for _ in range(2):  # both threads hang past their call's timeout
            with pytest.raises(TimeoutError):
                await threads.call(0.05, release.wait)
        assert await threads.call(1.0, lambda: "served") == "served"  # on a thread started in place
        for _ in range(2):  # the replacements hang too: two more are the most the pool starts
            with pytest.raises(TimeoutError):
                await threads.call(0.05, release.wait)
        waiting = asyncio.ensure_future(threads.call(0.05, lambda: "late"))
        await asyncio.sleep(0.3)
        assert not waiting.done()  # it waits for a thread, and its timeout has not started
        assert threads.threads == 4
        release.set()
        assert await waiting == "late"  # a hung call returned: its thread is the pool's again
        assert await threads.call(1.0, lambda: "again") == "again"
        assert threads.threads == 4

    asyncio.run(main())


def test_a_job_waiting_when_a_call_is_left_running_gets_the_thread_started_in_its_place(
    make: Make,
) -> None:
    threads = make(1)
    release = threading.Event()

    async def main() -> None:
        hung = asyncio.ensure_future(threads.call(0.2, release.wait))
        await asyncio.sleep(0.05)  # it runs on the one thread
        waiting = threads.submit(lambda: "served")  # no thread for it yet
        with pytest.raises(TimeoutError):
            await hung
        assert await asyncio.wait_for(waiting, 5) == "served"  # not left until the next submit
        release.set()

    asyncio.run(main())


def test_idle_threads_end_and_start_again_when_needed(make: Make) -> None:
    threads = make(50, "test-idle", idle_seconds=1.0)

    def alive() -> int:
        return sum(thread.name.startswith("test-idle_") for thread in threading.enumerate())

    async def burst() -> None:
        await asyncio.gather(*(threads.submit(time.sleep, 0.1) for _ in range(20)))

    asyncio.run(burst())
    assert threads.threads == 20
    assert alive() == 20
    deadline = time.monotonic() + 10
    while (threads.threads or alive()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert threads.threads == 0
    assert alive() == 0  # the threads themselves ended
    asyncio.run(burst())  # and start again on demand
    assert 1 <= threads.threads <= 20


def test_jobs_that_waited_for_a_thread_leave_no_phantom_idle_thread_behind(make: Make) -> None:
    """A burst past the cap: the jobs that waited were taken by threads as they finished. Once the
    threads have ended idle, the next jobs must start threads, not wait for ones counted idle."""
    threads = make(2, "test-burst", idle_seconds=0.2)

    async def burst() -> None:  # 5 of the 7 wait for one of the 2 threads
        await asyncio.wait_for(asyncio.gather(*(threads.submit(time.sleep, 0.02) for _ in range(7))), 10)

    for _ in range(3):
        asyncio.run(burst())
        assert 1 <= threads.threads <= 2  # (one may already have ended idle)
        deadline = time.monotonic() + 10
        while threads.threads and time.monotonic() < deadline:
            time.sleep(0.05)
        assert threads.threads == 0  # every thread ended idle
    together = threading.Barrier(2, timeout=5)  # passes only if both jobs run at once

    async def pair() -> None:
        await asyncio.wait_for(asyncio.gather(*(threads.submit(together.wait) for _ in range(2))), 10)

    asyncio.run(pair())
    assert threads.threads == 2


def test_a_cancelled_caller_leaves_its_call_running_on_a_thread_replaced(make: Make) -> None:
    threads = make(1)
    release = threading.Event()

    async def main() -> None:
        hung = asyncio.ensure_future(threads.call(None, release.wait))
        await asyncio.sleep(0.05)  # started on the pool's only thread
        hung.cancel()
        with pytest.raises(asyncio.CancelledError):
            await hung
        assert await threads.call(1.0, lambda: "served") == "served"
        release.set()

    asyncio.run(main())
