"""Update drain: how fast queued updates are applied.

One instance: enqueue K updates (Runs from 8 concurrent clients) while the
instance's lease is held by the benchmark, so they pile up as a backlog, then
let go and time how long the backlog takes to drain. Our workers keep up with
gRPC enqueues, so without the pause there would be no backlog to time. Motion
is measured on its own backlog (K in-process runs, then flush_update). Many instances: K updates over
1,000 instances, from the first enqueue until every instance's FlushUpdates
returned, with all update workers.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator, Mapping

import grpc
import redis

from bench.env import Env, run_motion_task
from bench.motion_side import drain_figures
from bench.report import Figure
from bench.rpc import aio_run_call, aio_stub, ref, run_request, state_number
from bench.scenarios._common import OURS, FigureSpec, Scenario, Side, figures, interleave
from motion_grpc._proto.motion.v1 import motion_pb2 as pb
from motion_grpc.store.keys import InstanceKeys

NAME = "drain"
COMPONENT, FLOW = "Trivial", "add"
ENQUEUE_CLIENTS = 8
FLUSH_CLIENTS = 32
RPC_TIMEOUT = 300.0


async def _enqueue(channel: grpc.aio.Channel, jobs: Iterator[tuple[str, int]], clients: int) -> None:
    """Run the flow once per (instance, i) job, from `clients` concurrent callers; each enqueues +1."""
    run = aio_run_call(channel)

    async def client() -> None:
        for instance_id, i in jobs:
            await run(run_request(COMPONENT, instance_id, FLOW, {"value": 1, "i": i}), timeout=RPC_TIMEOUT)

    await asyncio.gather(*(client() for _ in range(clients)))


async def _flush(channel: grpc.aio.Channel, instance_ids: list[str]) -> None:
    stub, limit = aio_stub(channel), asyncio.Semaphore(FLUSH_CLIENTS)

    async def flush(instance_id: str) -> None:
        async with limit:
            await stub.FlushUpdates(
                pb.FlushUpdatesRequest(instance=ref(COMPONENT, instance_id)), timeout=RPC_TIMEOUT
            )

    await asyncio.gather(*(flush(instance_id) for instance_id in instance_ids))


async def _applied(channel: grpc.aio.Channel, instance_id: str) -> int:
    reply = await aio_stub(channel).GetState(pb.GetStateRequest(instance=ref(COMPONENT, instance_id)))
    return int(state_number(reply, "value"))


async def _create(channel: grpc.aio.Channel, instance_ids: list[str]) -> None:
    """Create the instances (a Run adding 0) and let that settle, before any clock starts."""
    run = aio_run_call(channel)
    await asyncio.gather(*(run(run_request(COMPONENT, i, FLOW, {"value": 0, "i": -1})) for i in instance_ids))
    await _flush(channel, instance_ids)


@contextlib.contextmanager
def _paused(redis_url: str, instance_id: str) -> Iterator[None]:
    """Hold the instance's lease, so no worker applies its updates meanwhile."""
    client = redis.Redis.from_url(redis_url)
    lease = InstanceKeys.of(COMPONENT, instance_id).lease
    try:
        while not client.set(lease, "bench-pause", nx=True, px=int(RPC_TIMEOUT * 1000)):
            time.sleep(0.001)  # a worker still holds it from the creating run
        yield
    finally:
        client.delete(lease)
        client.close()


async def _drain_one(address: str, redis_url: str, instance_id: str, updates: int) -> Mapping[str, float]:
    async with grpc.aio.insecure_channel(address) as channel:
        await _create(channel, [instance_id])
        started = time.perf_counter()
        with _paused(redis_url, instance_id):
            await _enqueue(channel, iter([(instance_id, i) for i in range(updates)]), ENQUEUE_CLIENTS)
            applied_at_enqueued = await _applied(channel, instance_id)
        enqueued = time.perf_counter()
        # A state write queues behind the backlog and wakes a worker: it returns once all is applied.
        mark = pb.WriteStateRequest(instance=ref(COMPONENT, instance_id))
        mark.patch.update({"bench_mark": 1})
        await aio_stub(channel).WriteState(mark, timeout=RPC_TIMEOUT)
        done = time.perf_counter()
        applied = await _applied(channel, instance_id)
    return drain_figures(updates, applied, applied_at_enqueued, started, enqueued, done)


async def _drain_many(address: str, instance_ids: list[str], per_instance: int) -> Mapping[str, float]:
    async with grpc.aio.insecure_channel(address) as channel:
        await _create(channel, instance_ids)
        jobs = iter([(instance_id, i) for i in range(per_instance) for instance_id in instance_ids])
        started = time.perf_counter()
        await _enqueue(channel, jobs, ENQUEUE_CLIENTS)
        await _flush(channel, instance_ids)
        done = time.perf_counter()
        total = sum([await _applied(channel, instance_id) for instance_id in instance_ids])
    expected = len(instance_ids) * per_instance
    if total != expected:
        raise RuntimeError(f"{total} of {expected} updates applied after FlushUpdates")
    return {"end_to_end_per_s": expected / (done - started)}


def run(env: Env) -> list[Figure]:
    profile = env.profile
    one = {
        OURS: Side(
            "motion-grpc",
            lambda: asyncio.run(
                _drain_one(env.motion_grpc(), env.redis_url(), env.unique("drain"), profile.drain_updates)
            ),
        ),
        "motion": Side(
            "Motion 0.1.132 in-process", lambda: run_motion_task(env, "drain", updates=profile.drain_updates)
        ),
    }
    many = {
        OURS: Side(
            "motion-grpc",
            lambda: asyncio.run(
                _drain_many(
                    env.motion_grpc(),
                    [env.unique("many") for _ in range(profile.drain_instances)],
                    profile.updates_per_instance,
                )
            ),
        ),
    }
    interleave(profile.rounds, {**one, "many": many[OURS]})
    k = profile.drain_updates
    specs_one = [
        FigureSpec(
            f"update drain, 1 instance, backlog of {k}",
            "updates/s",
            "backlog_per_s",
            "motion",
            target=">= 5x",
            note="ours: K updates queued while the bench held the lease, then drained; "
            "Motion: the backlog left after its K in-process runs",
        ),
        FigureSpec(f"enqueue+drain, 1 instance, {k} updates", "updates/s", "end_to_end_per_s", "motion"),
    ]
    specs_many = [
        FigureSpec(
            f"enqueue+drain, {profile.drain_instances} instances x {profile.updates_per_instance}",
            "updates/s",
            "end_to_end_per_s",
            note=f"{profile.update_workers} update workers; from first enqueue to every flush returned",
        ),
    ]
    return figures(NAME, specs_one, one) + figures(NAME, specs_many, many)


SCENARIO = Scenario(NAME, "update drain rate, one instance and many", run)
