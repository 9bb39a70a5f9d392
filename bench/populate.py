"""Create many real instances fast, with motion-grpc's own init scripts, pipelined.

Creating 100,000 instances by Run would take minutes (and queue 100,000
updates). Here each instance is created exactly as the engine creates one
(INIT_BEGIN takes the init lock, INIT_COMMIT writes the state and meta, then
the id joins the component's index), only many per round trip: the result is
instances any server hosting the component serves, lists and updates. Also
Redis' own counters the scenarios report.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import redis

from motion_grpc import codec
from motion_grpc.store import scripts
from motion_grpc.store.keys import InstanceKeys, index_key

BATCH = 2000
LOCK_TTL_MS = 60_000
TOKEN = "bench-populate"


def populate(redis_url: str, component: str, ids: list[str], state: Mapping[str, Any]) -> None:
    """Create the instances `ids` of `component` with the initial `state`; they must not exist yet."""
    client = redis.Redis.from_url(redis_url)
    try:
        begin = client.register_script(scripts.INIT_BEGIN)
        commit = client.register_script(scripts.INIT_COMMIT)
        fields = [item for name, value in state.items() for item in (name, codec.dumps(value))]
        for start in range(0, len(ids), BATCH):
            batch = ids[start : start + BATCH]
            pipe = client.pipeline(transaction=False)
            now_ms = int(time.time() * 1000)
            for instance_id in batch:
                keys = InstanceKeys.of(component, instance_id)
                begin(keys=[keys.meta, keys.init_lock], args=[TOKEN, LOCK_TTL_MS], client=pipe)
                commit(
                    keys=[keys.meta, keys.state, keys.init_lock, keys.gone],
                    args=[TOKEN, component, instance_id, now_ms, *fields],
                    client=pipe,
                )
            pipe.sadd(index_key(component), *batch)
            replies = pipe.execute()[:-1]
            began, committed = replies[0::2], replies[1::2]
            if any(code != 0 for code in began) or any(version != 1 for version in committed):
                raise RuntimeError(f"instances of {batch[0]}.. were not all created fresh")
    finally:
        client.close()


def info_number(redis_url: str, section: str, name: str) -> int:
    """One number of Redis' INFO, for the whole server (e.g. memory used_memory, clients blocked_clients)."""
    client = redis.Redis.from_url(redis_url)
    try:
        return int(client.info(section)[name])
    finally:
        client.close()


def used_memory(redis_url: str) -> int:
    """Bytes Redis has allocated (INFO memory used_memory)."""
    return info_number(redis_url, "memory", "used_memory")
