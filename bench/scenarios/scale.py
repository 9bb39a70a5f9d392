"""Scale: Run latency and memory with 100, 10,000 and 100,000 instances in Redis.

Each round and size: an empty Redis database of its own is filled with N real
instances (bench/populate.py: motion-grpc's init scripts, pipelined), a fresh
replica is started on it, a few random instances are read back with
GetState, and one sequential client runs the trivial flow (cache miss) on a
random existing instance per call: at 10,000 and 100,000 most Runs find no
snapshot of their instance in the replica (its cache holds up to 10,000) and
read the state from Redis. Then the replica's RSS is read and the database
flushed. Redis memory per instance is the growth of
INFO used_memory while populating, divided by N.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping

from bench.env import Env
from bench.populate import populate, used_memory
from bench.report import Figure
from bench.rpc import ref, state_number, sync_stub
from bench.scenarios._common import (
    OURS,
    FigureSpec,
    Measure,
    Scenario,
    Side,
    figure,
    grpc_load,
    interleave,
)
from bench.services import rss_bytes
from bench.stats import median
from motion_grpc._proto.motion.v1 import motion_pb2 as pb

NAME = "scale"
DB = 2  # the scenario's own database: flushed before and after each size
COMPONENT = "Trivial"
CHECKED = 5  # random instances read back with GetState before measuring
RPC_TIMEOUT = 30.0
BASE = "base"


def _check_served(address: str, instance_ids: list[str]) -> None:
    """The populated instances are real: the replica serves their state."""
    channel, stub = sync_stub(address)
    with channel:
        for instance_id in instance_ids:
            request = pb.GetStateRequest(instance=ref(COMPONENT, instance_id), keys=["value"])
            reply = stub.GetState(request, timeout=RPC_TIMEOUT)
            if reply.version < 1 or state_number(reply, "value") != 0:
                raise RuntimeError(f"populated instance {instance_id} reads as version {reply.version}")


def _measure(env: Env, size: int) -> Mapping[str, float]:
    url = env.redis_url_db(DB)
    env.flush_db(DB)
    prefix = f"{env.unique('scale')}-"
    ids = [f"{prefix}{k}" for k in range(size)]
    before, started = used_memory(url), time.perf_counter()
    populate(url, COMPONENT, ids, {"value": 0})
    populated, after = time.perf_counter() - started, used_memory(url)
    service, address = env.own_motion_grpc("motion-grpc-scale", db=DB)
    try:
        _check_served(address, random.sample(ids, min(CHECKED, size)))
        load = grpc_load(env, lambda: address, clients=1, pool=(prefix, size))()
        rss = rss_bytes(service.pid)
    finally:
        service.stop()
        env.flush_db(DB)
    return {
        **load,
        "rss_mb": rss / 2**20,
        "redis_bytes_per_instance": (after - before) / size,
        "populate_s": populated,
    }


def _measure_of(env: Env, size: int) -> Measure:
    return lambda: _measure(env, size)


def _medians(side: Side, key: str) -> float | None:
    return median([values[key] for values in side.rounds]) if side.rounds else None


def _p50_spec(env: Env, size: int, base: int, side: Side) -> FigureSpec:
    populated = _medians(side, "populate_s")
    throughput = _medians(side, "throughput")
    parts = []
    if size == base:
        parts.append(
            f"1 client, cache miss, each Run on a random one of the existing instances; {CHECKED} random "
            "instances read back with GetState before; the replica's snapshot cache starts empty"
        )
    if throughput is not None:
        parts.append(f"about {throughput * env.profile.duration:,.0f} measured Runs per round")
    if populated is not None:
        parts.append(f"{size:,} instances populated in {populated:.1f} s")
    first = size == base
    return FigureSpec(
        f"Run p50, {size:,} instances" + ("" if first else f" vs {base:,}"),
        "ms",
        "p50_ms",
        None if first else BASE,
        "—" if first else "flat (<= 1.2x)",
        "; ".join(parts),
    )


def _rss_spec(size: int, base: int) -> FigureSpec:
    note = "VmRSS of the replica (started fresh for each size) after the Runs" if size == base else ""
    return FigureSpec(f"RSS per replica, {size:,} instances", "MB", "rss_mb", target="report", note=note)


def _redis_spec(size: int, base: int) -> FigureSpec:
    note = (
        "growth of Redis' INFO used_memory while populating, / N; instances as init_state left them "
        "(state, meta, index entry; no events stream or cache yet)"
    )
    return FigureSpec(
        f"Redis memory per instance, {size:,} instances",
        "B",
        "redis_bytes_per_instance",
        target="report",
        note=note if size == base else "",
    )


def run(env: Env) -> list[Figure]:
    sizes = env.profile.scale_sizes
    sides = {size: Side(f"{size:,} instances", _measure_of(env, size)) for size in sizes}
    try:
        interleave(env.profile.rounds, {str(size): side for size, side in sides.items()})
    finally:
        env.flush_db(DB)
    base = sizes[0]

    def rows(spec_of: Callable[[int], FigureSpec]) -> list[Figure]:
        return [figure(NAME, spec_of(size), {OURS: side, BASE: sides[base]}) for size, side in sides.items()]

    return (
        rows(lambda size: _p50_spec(env, size, base, sides[size]))
        + rows(lambda size: _rss_spec(size, base))
        + rows(lambda size: _redis_spec(size, base))
    )


SCENARIO = Scenario(NAME, "Run latency and memory with 100 to 100,000 instances", run)
