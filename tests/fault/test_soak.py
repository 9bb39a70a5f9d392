"""The SIGKILL scenario, MOTION_SOAK_ROUNDS times (3 when unset; `make test-fault` runs 100).

Each round uses a fresh instance; the killed replica is restarted for the
next one. Recovery times are printed (run with -s) as median and max.
"""

from __future__ import annotations

import os
import pathlib
import statistics

import pytest

from motion_grpc.store import RedisServer
from tests.fault.scenarios import sigkill_mid_update
from tests.fault.support import replica

pytestmark = pytest.mark.fault

ROUNDS = int(os.environ.get("MOTION_SOAK_ROUNDS", "3"))
SECONDS_PER_ROUND = 15  # generous: a round takes about 5 s


@pytest.mark.timeout(60 + SECONDS_PER_ROUND * ROUNDS)
def test_soak_sigkill_rounds(tmp_path: pathlib.Path) -> None:
    recoveries: list[float] = []
    with RedisServer(tmp_path / "redis", appendonly=False) as redis_server:
        replicas = [replica(redis_server.url, tmp_path / "marks") for _ in range(2)]
        try:
            for server in replicas:
                server.start()
            for _ in range(ROUNDS):
                (tmp_path / "marks").unlink(missing_ok=True)
                recovery, killed = sigkill_mid_update(redis_server.url, replicas, tmp_path / "marks")
                recoveries.append(recovery)
                killed.start()
        finally:
            for server in replicas:
                server.kill()
    print(
        f"soak: {ROUNDS} rounds, recovery after SIGKILL median {statistics.median(recoveries):.3f}s, "
        f"max {max(recoveries):.3f}s"
    )
