"""RunStream, async ops and deadlines, against a real server and Redis."""

from __future__ import annotations

import asyncio
import pathlib
import threading
import time
from collections.abc import Iterator

import pytest

from motion_grpc import AsyncMotionClient, MotionClient
from motion_grpc.engine import Engine
from motion_grpc.errors import DeadlineExceededError, OpError
from motion_grpc.instance import ComponentInstance
from motion_grpc.server.loader import load_components
from motion_grpc.store import RedisSettings
from tests.helpers import ROOT, TEST_APP, ServerProcess, assert_eventually, unique

STREAM_APP = str(ROOT / "tests" / "apps" / "streamapp.py")


@pytest.fixture(scope="module")
def stream_server(redis_url: str) -> Iterator[ServerProcess]:
    with ServerProcess(apps=[TEST_APP, STREAM_APP], redis_url=redis_url) as process:
        yield process


@pytest.fixture(scope="module")
def motion(stream_server: ServerProcess) -> Iterator[MotionClient]:
    with MotionClient(stream_server.target) as client:
        client.wait_ready()
        yield client


@pytest.fixture
def engine(redis_url: str) -> Iterator[Engine]:
    running = Engine(RedisSettings(redis_url), load_components([STREAM_APP])).start()
    yield running
    running.close()


def _closed(marker: pathlib.Path) -> bool:
    return marker.exists() and "closed" in marker.read_text()


@pytest.mark.parametrize("flow", ["tokens", "atokens"])
def test_items_arrive_as_they_are_produced(motion: MotionClient, flow: str) -> None:
    handle = motion.instance("Tokens", unique("tok"))
    handle.watch(create_if_missing=True).cancel()  # created (init_state) before the clock starts
    delay = 0.3  # between items: item i exists no sooner than i x delay after the call
    started = time.perf_counter()
    arrivals = []
    stream = handle.stream(flow, {"n": 5, "delay": delay})
    for item in stream:
        arrivals.append((time.perf_counter() - started, item))
    # Before the third item exists, while a stream sent whole would arrive after the fifth
    # (4 x delay): room for a loaded machine's hiccups on both sides.
    assert arrivals[0][0] < 2 * delay, arrivals
    # Each arrives no sooner than it was produced (gaps between arrivals, unlike these bounds,
    # shrink whenever one item is delivered late and the next on time).
    assert all(at >= i * delay - 0.01 for i, (at, _) in enumerate(arrivals)), arrivals
    items = [item for _, item in arrivals]
    assert items == [{"i": i, "count": 0} for i in range(5)]
    assert stream.done and len(stream.update_ids) == 1 and stream.version == 1
    assert handle.flush(timeout=10).version == 2
    assert handle.get_state()["runs"] == [items]


def test_plain_serve_op_answers_with_one_message(motion: MotionClient) -> None:
    handle = motion.instance("Tokens", unique("plain"))
    stream = handle.stream("plain")
    assert list(stream) == [0]
    assert stream.done and len(stream.update_ids) == 1
    assert handle.flush(timeout=10).version == 2
    assert handle.get_state()["runs"] == [0]


def test_run_of_a_generator_op_returns_the_list(motion: MotionClient) -> None:
    handle = motion.instance("Tokens", unique("list"))
    assert handle.run("tokens", {"n": 3}) == [{"i": i, "count": 0} for i in range(3)]
    assert [item["i"] for item in handle.run("atokens", {"n": 2})] == [0, 1]


def test_stream_with_flush_update_reports_the_outcomes(motion: MotionClient) -> None:
    handle = motion.instance("Tokens", unique("flush"))
    stream = handle.stream("tokens", {"n": 2}, flush_update=True)
    assert len(list(stream)) == 2
    assert stream.version == 2
    assert [outcome.status for outcome in stream.update_outcomes] == [3]  # APPLIED


@pytest.mark.parametrize("flow", ["tokens", "atokens"])
def test_generator_raising_midway_ends_the_stream_and_enqueues_nothing(
    motion: MotionClient, flow: str
) -> None:
    handle = motion.instance("Tokens", unique("fail"))
    received = []
    with pytest.raises(OpError) as raised:
        for item in handle.stream(flow, {"n": 5, "fail_at": 2}):
            received.append(item)
    assert raised.value.error_type == "ValueError"
    assert "no token 2" in raised.value.message
    assert received == [{"i": 0, "count": 0}, {"i": 1, "count": 0}]
    assert handle.flush(timeout=10).version == 1  # nothing was enqueued
    assert handle.get_state()["runs"] == []


@pytest.mark.parametrize("flow", ["tokens", "atokens"])
def test_cancelling_a_stream_closes_the_generator_on_the_server(
    motion: MotionClient, flow: str, tmp_path: pathlib.Path
) -> None:
    marker = tmp_path / "marker"
    handle = motion.instance("Tokens", unique("cancel"))
    stream = handle.stream(flow, {"n": 1000, "delay": 0.05, "marker": str(marker)})
    assert next(stream) == {"i": 0, "count": 0}
    assert next(stream) == {"i": 1, "count": 0}
    stream.cancel()
    assert_eventually(lambda: _closed(marker), timeout=5)
    assert handle.flush(timeout=10).version == 1  # a stream that did not end enqueues nothing


@pytest.mark.parametrize("flow", ["tokens", "atokens"])
def test_a_stream_past_its_deadline_closes_the_generator(
    motion: MotionClient, flow: str, tmp_path: pathlib.Path
) -> None:
    marker = tmp_path / "marker"
    handle = motion.instance("Tokens", unique("deadline"))
    started = time.perf_counter()
    with pytest.raises(DeadlineExceededError):
        for _ in handle.stream(flow, {"n": 1000, "delay": 0.05, "marker": str(marker)}, timeout=0.5):
            pass
    assert time.perf_counter() - started < 2
    assert_eventually(lambda: _closed(marker), timeout=5)


def test_a_run_past_its_deadline_answers_deadline_exceeded_and_enqueues_nothing(motion: MotionClient) -> None:
    handle = motion.instance("Sleepy", unique("nap"))
    assert handle.run("nap", {"sleep": 0}, flush_update=True) == 0
    with pytest.raises(DeadlineExceededError):
        handle.run("nap", {"sleep": 0.6}, timeout=0.2)
    time.sleep(0.8)  # let the abandoned serve op finish on the server; it must not enqueue
    assert handle.run("nap", {"sleep": 0}, flush_update=True) == 1
    assert handle.version == 3


def test_async_client_streams(stream_server: ServerProcess) -> None:
    async def main() -> tuple[list[object], list[str]]:
        async with AsyncMotionClient(stream_server.target) as client:
            handle = client.instance("Tokens", unique("aio"))
            stream = handle.stream("atokens", {"n": 3})
            items = [item async for item in stream]
            return items, stream.update_ids

    items, ids = asyncio.run(main())
    assert items == [{"i": i, "count": 0} for i in range(3)]
    assert len(ids) == 1


def test_async_ops_mixed_with_sync_ops(motion: MotionClient) -> None:
    handle = motion.instance("AsyncOps", unique("async"), init_state_params={"start": 10})
    assert handle.run("add", {"n": 5}, flush_update=True) == 10  # served before its own update
    assert handle.run("add", {"n": 2}, flush_update=True) == 15
    assert handle.get_state() == {"value": 17, "trail": [5, 2]}
    assert handle.run("sync_read", flush_update=True) == {"value": 17, "trail": [5, 2]}
    assert handle.get_state()["trail"] == [5, 2, "read"]


def test_async_serve_ops_share_one_loop_without_blocking_each_other(motion: MotionClient) -> None:
    handle = motion.instance("AsyncOps", unique("conc"))
    handle.run("add", {"n": 1}, flush_update=True)
    results: list[int] = []

    def serve() -> None:
        results.append(handle.run("add", {"n": 0, "sleep": 0.4}))

    threads = [threading.Thread(target=serve) for _ in range(6)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [1] * 6
    assert time.perf_counter() - started < 1.2  # 6 x 0.4 s one after the other would take 2.4 s


def test_in_process_gen_and_agen(engine: Engine) -> None:
    instance = ComponentInstance(engine.component("Tokens"), unique("local"), engine=engine)
    delay = 0.4
    started = time.perf_counter()
    first_at = None
    items = []
    for item in instance.gen("tokens", {"n": 3, "delay": delay}):
        first_at = first_at if first_at is not None else time.perf_counter() - started
        items.append(item)
    assert first_at is not None and first_at < delay  # before the second item exists
    assert items == [{"i": i, "count": 0} for i in range(3)]
    assert instance.flush_update() == 2

    async def collect() -> list[object]:
        return [item async for item in instance.agen("atokens", {"n": 2})]

    assert asyncio.run(collect()) == [{"i": 0, "count": 1}, {"i": 1, "count": 1}]
    assert instance.flush_update() == 3
    assert instance.read_state("count") == 2


def test_in_process_gen_stopped_early_closes_and_enqueues_nothing(
    engine: Engine, tmp_path: pathlib.Path
) -> None:
    marker = tmp_path / "marker"
    instance = ComponentInstance(engine.component("Tokens"), unique("early"), engine=engine)
    generator = instance.gen("tokens", {"n": 100, "marker": str(marker)})
    assert next(generator) == {"i": 0, "count": 0}
    generator.close()
    assert _closed(marker)
    assert instance.flush_update() == 1


def test_in_process_async_ops(engine: Engine) -> None:
    instance = ComponentInstance(
        engine.component("AsyncOps"), unique("local-async"), engine=engine, init_state_params={"start": 3}
    )
    assert instance.run("add", {"n": 4}, flush_update=True) == 3
    assert instance.get_state() == {"value": 7, "trail": [4]}
