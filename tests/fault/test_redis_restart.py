"""Redis crashes and restarts (AOF on) in the middle of a stream of enqueues: nothing acknowledged is lost.

The test Redis runs with `--appendfsync always`, so every write is on disk
before Redis replies. (With the default `everysec`, a crash of the Redis
*process* still loses nothing acknowledged, since the AOF is written before
replies go out and the kernel keeps it; a crash of the *machine* can lose
about the last second.)
"""

from __future__ import annotations

import pathlib
import threading
import time

import pytest

from motion_grpc import MotionClient
from motion_grpc.errors import MotionError, StoreUnavailableError
from motion_grpc.store import RedisServer
from tests.fault.support import COMPONENT, replica
from tests.helpers import assert_eventually, unique

pytestmark = pytest.mark.fault

BEFORE = 150  # acknowledged enqueues before the crash
AFTER = 150  # acknowledged enqueues after the restart


class _Stream:
    """Appends i = 0, 1, 2, ... one at a time, never retrying one whose call failed."""

    def __init__(self, target: str, instance_id: str) -> None:
        self.target = target
        self.instance_id = instance_id
        self.acknowledged: list[int] = []
        self.failed: list[int] = []
        self.stop_after = 10**9
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with MotionClient(self.target) as client:
            handle = client.instance(COMPONENT, self.instance_id)
            i = 0
            while len(self.acknowledged) < self.stop_after:
                try:
                    handle.run("append", {"i": i, "sleep": 0}, timeout=5)
                    self.acknowledged.append(i)
                except MotionError:
                    self.failed.append(i)
                    time.sleep(0.01)
                i += 1


def test_no_acknowledged_update_lost_across_redis_crash(tmp_path: pathlib.Path) -> None:
    redis_server = RedisServer(tmp_path / "redis", extra_args=("--appendfsync", "always")).start()
    try:
        with replica(redis_server.url, tmp_path / "marks") as server:
            stream = _Stream(server.target, unique("aof"))
            stream.thread.start()
            assert_eventually(lambda: len(stream.acknowledged) >= BEFORE, timeout=30)
            redis_server.kill()  # SIGKILL: no chance to flush anything more
            acknowledged_before = len(stream.acknowledged)
            assert_eventually(lambda: stream.failed, timeout=10)
            redis_server.start()
            stream.stop_after = acknowledged_before + AFTER
            stream.thread.join(60)
            assert not stream.thread.is_alive()

            with MotionClient(server.target) as client:
                handle = client.instance(COMPONENT, stream.instance_id)
                flushed = assert_eventually(
                    lambda: handle.flush(timeout=30), timeout=30, retry_on=(StoreUnavailableError,)
                )
                items = handle.get_state(["items"])["items"]
    finally:
        redis_server.cleanup()

    print(f"acknowledged {len(stream.acknowledged)}, failed {len(stream.failed)}, applied {len(items)}")
    assert stream.failed, "no call failed: Redis was not down while enqueuing"
    assert flushed.failed == []
    assert set(stream.acknowledged) <= set(items), "an acknowledged update was lost"
    assert len(items) == len(set(items)), "an update was applied twice"
    assert items == sorted(items), "updates were applied out of order"
    # A call that failed may still have been enqueued (its reply was lost), never more than once.
    assert set(items) <= set(stream.acknowledged) | set(stream.failed)
