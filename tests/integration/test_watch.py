"""WatchUpdates: ordered events, gap-free resumes (across restarts), retention, heartbeats."""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
from collections.abc import Iterator

import pytest
import redis

from motion_grpc import AsyncMotionClient, MotionClient
from motion_grpc.client import Watch, WatchEvent, WatchProgress
from motion_grpc.errors import (
    DeadlineExceededError,
    InvalidArgumentError,
    NotFoundError,
    OutOfRangeError,
    ResourceExhaustedError,
)
from motion_grpc.store.keys import InstanceKeys
from tests.helpers import MOTION_GRPC, ROOT, TEST_APP, ServerProcess, popen_tied, unique

STREAM_APP = str(ROOT / "tests" / "apps" / "streamapp.py")
HEARTBEAT = ["--watch-heartbeat", "0.3"]
#: Room for the fan-out test's 200 watchers from one peer (the default cap is 100).
WATCH_ARGS = [*HEARTBEAT, "--max-watches-per-peer", "300"]


@pytest.fixture(scope="module")
def watch_server(redis_url: str) -> Iterator[ServerProcess]:
    with ServerProcess(apps=[TEST_APP, STREAM_APP], redis_url=redis_url, args=WATCH_ARGS) as process:
        yield process


@pytest.fixture(scope="module")
def motion(watch_server: ServerProcess) -> Iterator[MotionClient]:
    with MotionClient(watch_server.target) as client:
        client.wait_ready()
        yield client


def _events(watch: Watch, count: int) -> list[WatchEvent]:
    events: list[WatchEvent] = []
    for item in watch:
        if isinstance(item, WatchEvent):
            events.append(item)
            if len(events) == count:
                break
    return events


def _history(redis_url: str, component: str, instance_id: str) -> list[str]:
    client = redis.Redis.from_url(redis_url)
    try:
        raw = client.xrange(InstanceKeys.of(component, instance_id).events, "-", "+")
        return [raw_id.decode() for raw_id, _ in raw]
    finally:
        client.close()


def _check_lifecycles(events: list[WatchEvent], update_ids: list[str]) -> None:
    ids = [event.event_id for event in events]
    assert ids == sorted(ids, key=lambda i: tuple(map(int, i.split("-")))) and len(set(ids)) == len(ids)
    for update_id in update_ids:
        statuses = [event.status for event in events if event.update_id == update_id]
        assert statuses == ["QUEUED", "RUNNING", "APPLIED"], (update_id, statuses)
    applied = [event.update_id for event in events if event.status == "APPLIED"]
    assert applied == update_ids  # applied in the order they were enqueued


def test_watch_sees_every_update_in_order(motion: MotionClient) -> None:
    handle = motion.instance("Ledger", unique("watch"))
    watch = handle.watch(create_if_missing=True, timeout=60)
    update_ids = []
    for i in range(100):
        update_ids += handle.run_outcome("append", {"i": i}).update_ids
    events = _events(watch, 300)
    watch.cancel()
    _check_lifecycles(events, update_ids)
    assert [event.version for event in events if event.status == "APPLIED"] == list(range(2, 102))
    assert handle.get_state()["items"] == list(range(100))


def test_resume_after_a_server_restart_misses_and_repeats_nothing(redis_url: str) -> None:
    instance_id = unique("resume")
    first = ServerProcess(apps=[TEST_APP], redis_url=redis_url, args=HEARTBEAT).start()
    try:
        with MotionClient(first.target) as client:
            handle = client.instance("Ledger", instance_id)
            watch = handle.watch(create_if_missing=True, timeout=60)
            update_ids = [handle.run_outcome("append", {"i": i}).update_ids[0] for i in range(30)]
            seen = _events(watch, 40)
            watch.cancel()
    finally:
        first.stop()
    with (
        ServerProcess(apps=[TEST_APP], redis_url=redis_url, args=HEARTBEAT) as second,
        MotionClient(second.target) as client,
    ):
        handle = client.instance("Ledger", instance_id)
        watch = handle.watch(after=seen[-1].event_id, timeout=60)
        rest = _events(watch, 50)
        handle.flush(timeout=30)
        handle.run("append", {"i": 99})  # one more, to show nothing else came before it
        tail = _events(watch, 1)
        watch.cancel()
    assert tail[0].status == "QUEUED" and tail[0].flow == "append"
    received = [event.event_id for event in seen + rest + tail]
    assert _history(redis_url, "Ledger", instance_id)[: len(received)] == received
    _check_lifecycles(seen + rest, update_ids)


def test_a_resume_point_older_than_the_retained_history_is_out_of_range(redis_url: str) -> None:
    retention = ["--events-retention", "10"]
    with (
        ServerProcess(apps=[TEST_APP], redis_url=redis_url, args=retention) as server,
        MotionClient(server.target) as client,
    ):
        handle = client.instance("Ledger", unique("trim"))
        watch = handle.watch(create_if_missing=True, timeout=30)
        handle.run("append", {"i": -1})
        oldest_seen = _events(watch, 1)[0].event_id
        watch.cancel()
        for i in range(100):  # 300 more events: XADD MAXLEN ~ 10 drops whole blocks of ~100
            handle.run("append", {"i": i})
        handle.flush(timeout=30)
        history = _history(redis_url, "Ledger", handle.instance_id)
        assert oldest_seen not in history
        with pytest.raises(OutOfRangeError) as raised:
            handle.watch(after=oldest_seen, timeout=10)
        assert history[0] in raised.value.message
        recent = handle.watch(after=history[-2], timeout=10, heartbeats=True)
        assert next(recent) == WatchProgress(history[-2])
        assert next(recent).event_id == history[-1]  # type: ignore[union-attr]
        recent.cancel()


def test_bad_resume_points_and_missing_instances(motion: MotionClient) -> None:
    handle = motion.instance("Ledger", unique("bad"))
    with pytest.raises(NotFoundError):
        handle.watch()
    handle.watch(create_if_missing=True).cancel()
    assert handle.version == 1
    for malformed in ("abc", "12", "1-2-3", "-1-0", "1-x"):
        with pytest.raises(InvalidArgumentError):
            handle.watch(after=malformed)
    handle.run("append", {"i": 1})
    with pytest.raises(InvalidArgumentError):
        handle.watch(after=f"{int(time.time() * 1000) + 3_600_000}-0")  # from the future
    with pytest.raises(NotFoundError):
        motion.instance("NoSuchComponent", "x").watch()
    with pytest.raises(NotFoundError):
        handle.watch(flows=["no-such-flow"])


def test_an_idle_watch_gets_heartbeats(motion: MotionClient, redis_url: str) -> None:
    handle = motion.instance("Ledger", unique("idle"))
    handle.run("append", {"i": 1}, flush_update=True)
    watch = handle.watch(heartbeats=True, timeout=10)
    started = time.perf_counter()
    beats = [next(watch) for _ in range(4)]  # the first tells where the watch starts
    watch.cancel()
    assert all(isinstance(beat, WatchProgress) for beat in beats)
    assert 0.6 < time.perf_counter() - started < 3
    newest = _history(redis_url, "Ledger", handle.instance_id)[-1]
    assert {beat.latest_event_id for beat in beats} == {newest}  # type: ignore[union-attr]


def test_flow_filter_and_state(motion: MotionClient) -> None:
    handle = motion.instance("Tokens", unique("filter"))
    watch = handle.watch(flows=["plain"], include_state=True, create_if_missing=True, timeout=30)
    handle.run("tokens", {"n": 1})
    handle.run("plain")
    events = _events(watch, 3)
    watch.cancel()
    assert {event.flow for event in events} == {"plain"}
    applied = events[-1]
    assert applied.status == "APPLIED"
    assert applied.state is not None and applied.state["count"] == applied.state_version - 1
    assert applied.state_version >= applied.version
    assert events[0].state is None


def test_a_watch_honours_its_deadline(motion: MotionClient) -> None:
    handle = motion.instance("Ledger", unique("dl"))
    watch = handle.watch(create_if_missing=True, timeout=0.5)
    started = time.perf_counter()
    with pytest.raises(DeadlineExceededError):
        list(watch)
    assert time.perf_counter() - started < 2


def test_many_async_watchers_of_one_instance(watch_server: ServerProcess, motion: MotionClient) -> None:
    instance_id = unique("fan")
    motion.instance("Ledger", instance_id).run("append", {"i": 0}, flush_update=True)

    async def main() -> list[list[str]]:
        async with AsyncMotionClient(watch_server.target) as client:
            handle = client.instance("Ledger", instance_id)
            watches = await asyncio.gather(*(handle.watch(timeout=30) for _ in range(200)))
            await handle.run("append", {"i": 1})

            async def statuses(watch: object) -> list[str]:
                seen = []
                async for event in watch:  # type: ignore[attr-defined]
                    seen.append(event.status)
                    if len(seen) == 3:
                        watch.cancel()  # type: ignore[attr-defined]
                        return seen
                return seen

            return await asyncio.gather(*(statuses(watch) for watch in watches))

    assert asyncio.run(main()) == [["QUEUED", "RUNNING", "APPLIED"]] * 200


def test_cli_watch_prints_json_lines(watch_server: ServerProcess, motion: MotionClient) -> None:
    handle = motion.instance("Ledger", unique("cli"))
    handle.run("append", {"i": 0}, flush_update=True)
    command = [MOTION_GRPC, "watch", "Ledger", handle.instance_id, "--target", watch_server.target,
               "--after", "0-0", "--json"]  # fmt: skip
    process = popen_tied(command, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        lines = [json.loads(process.stdout.readline()) for _ in range(3)]
    finally:
        process.terminate()
        process.wait(10)
        if process.stdout is not None:
            process.stdout.close()
    assert [line["status"] for line in lines] == ["QUEUED", "RUNNING", "APPLIED"]
    assert lines[-1]["version"] == 2


def test_a_watcher_that_stops_reading_is_ended_and_can_resume(redis_url: str) -> None:
    buffer = ["--watch-buffer", "50"]
    with (
        ServerProcess(apps=[STREAM_APP], redis_url=redis_url, args=buffer) as server,
        MotionClient(server.target) as client,
    ):
        handle = client.instance("Blob", unique("stall"))
        # include_state puts the whole state (here 200 kB) in every APPLIED event, so the
        # transport's buffers fill up while this watcher reads nothing.
        stalled = handle.watch(create_if_missing=True, include_state=True, timeout=60)
        for _ in range(300):
            handle.run("write", {"size": 200_000})
        handle.flush(timeout=60)
        received: list[WatchEvent] = []
        with pytest.raises(ResourceExhaustedError) as raised:
            for item in stalled:
                received.append(item)  # type: ignore[arg-type]
        assert "resume with after_event_id=" in raised.value.message
        assert 0 < len(received) < 900
        resumed = handle.watch(after=stalled.last_event_id, timeout=30)
        rest = _events(resumed, 900 - len(received))
        resumed.cancel()
        history = _history(redis_url, "Blob", handle.instance_id)
        assert [event.event_id for event in received + rest] == history
