"""A run's enqueue opens the drain of its idle instance: the first take rides along with it."""

from __future__ import annotations

import asyncio
from typing import Any

from motion_grpc import Component
from motion_grpc.engine import AsyncEngine, RunOptions
from motion_grpc.engine.run_payload import queue_entries
from motion_grpc.store import protocol
from motion_grpc.store.drain_calls import TakeAfterEnqueueError
from tests.helpers import run_engines, unique

Counter = Component("OpenedCounter", cache_ttl=0)


@Counter.init_state
def counter_setup() -> dict[str, int]:
    return {"n": 0}


@Counter.serve("add")
def counter_read(state: Any, props: Any) -> int:
    return int(state["n"])


@Counter.update("add")
def counter_add(state: Any, props: Any) -> dict[str, int]:
    return {"n": state["n"] + 1}


def test_runs_on_idle_instances_need_no_take_of_their_own(redis_url: str) -> None:
    separate_takes = 0

    async def scenario(engine: AsyncEngine) -> None:
        nonlocal separate_takes
        # its scripts loaded first: a script Redis had to load again costs a take of its own
        await engine.run("OpenedCounter", unique("warm"), "add", {}, RunOptions(flush_update=True))
        take = engine.store.take

        async def counted(*args: Any, **kwargs: Any) -> Any:
            nonlocal separate_takes
            separate_takes += 1
            return await take(*args, **kwargs)

        engine.store.take = counted  # type: ignore[method-assign]
        ids = [unique("idle") for _ in range(30)]
        for instance_id in ids:  # one at a time: each instance is idle when its run enqueues
            served = await engine.run("OpenedCounter", instance_id, "add", {}, RunOptions(flush_update=True))
            assert served.result == 0
            assert [event.status for event in served.outcomes] == [protocol.APPLIED]
        for instance_id in ids:
            assert (await engine.get_state("OpenedCounter", instance_id)).state == {"n": 1}

    run_engines(redis_url, [Counter], scenario)
    assert separate_takes == 0


def test_concurrent_runs_of_many_instances_apply_every_update_exactly_once(redis_url: str) -> None:
    async def scenario(engine: AsyncEngine) -> None:
        ids = [unique("many") for _ in range(200)]

        async def user(instance_id: str) -> None:
            for _ in range(5):
                await engine.run("OpenedCounter", instance_id, "add")

        await asyncio.gather(*(user(instance_id) for instance_id in ids))
        for instance_id in ids:
            await engine.flush("OpenedCounter", instance_id)
            assert (await engine.get_state("OpenedCounter", instance_id)).state == {"n": 5}

    run_engines(redis_url, [Counter], scenario)


def test_a_run_cancelled_while_its_enqueue_opens_the_drain_still_has_its_update_applied(
    redis_url: str,
) -> None:
    async def scenario(engine: AsyncEngine) -> None:
        instance_id = unique("cancelled")
        await engine.run("OpenedCounter", instance_id, "add", {}, RunOptions(flush_update=True))
        keys = engine.resolve("OpenedCounter", instance_id)[1]
        request = engine.store.enqueue_request(keys, queue_entries(Counter.definition.flow("add"), {}, 1))
        scheduler = engine._scheduler
        enqueue = asyncio.ensure_future(scheduler.enqueue(request))
        await asyncio.sleep(0)  # the drain it opened is scheduled; the run gives up before it lands
        assert scheduler.draining(keys)
        enqueue.cancel()
        await asyncio.sleep(0.5)
        await engine.flush("OpenedCounter", instance_id)
        assert (await engine.get_state("OpenedCounter", instance_id)).state == {"n": 2}

    run_engines(redis_url, [Counter], scenario)


def test_a_run_whose_enqueue_landed_is_answered_when_the_take_riding_along_fails(redis_url: str) -> None:
    """Redis refusing the take (out of memory, say) after the enqueue landed: the run took effect,
    so it is answered as such (a caller told to retry would run it twice); a later drain applies it."""

    async def scenario(engine: AsyncEngine) -> None:
        instance_id = unique("take-fails")
        await engine.run("OpenedCounter", instance_id, "add", {}, RunOptions(flush_update=True))
        opened = engine.store.enqueue_then_take
        broken = 0

        async def take_refused(request: Any, token: str, ttl_ms: int, policies: Any, group_max: int) -> Any:
            nonlocal broken
            try:  # a lease TTL Redis refuses: the TAKE fails, after the ENQUEUE before it ran
                return await opened(request, token, -1, policies, group_max)
            except TakeAfterEnqueueError:
                broken += 1
                raise

        engine.store.enqueue_then_take = take_refused  # type: ignore[method-assign]
        served = await engine.run("OpenedCounter", instance_id, "add", {})
        engine.store.enqueue_then_take = opened  # type: ignore[method-assign]
        assert broken == 1 and served.result == 1 and len(served.update_ids) == 1
        await engine.flush("OpenedCounter", instance_id)
        assert (await engine.get_state("OpenedCounter", instance_id)).state == {"n": 2}

    run_engines(redis_url, [Counter], scenario)
