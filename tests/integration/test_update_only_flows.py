"""A flow with update ops and no serve op: nothing to run before the enqueue, so no read before it."""

from __future__ import annotations

from typing import Any

from motion_grpc import Component
from motion_grpc.engine import AsyncEngine, RunOptions
from tests.helpers import run_engines, unique

Log = Component("UpdateOnlyLog")


@Log.init_state
def log_setup() -> dict[str, list[int]]:
    return {"items": []}


@Log.update("log")
def log_append(state: Any, props: Any) -> dict[str, list[int]]:
    return {"items": [*state["items"], props["i"]]}


def test_runs_of_an_update_only_flow_enqueue_without_reading_first(redis_url: str) -> None:
    reads = 0

    async def scenario(engine: AsyncEngine) -> None:
        nonlocal reads
        instance_id = unique("log")
        await engine.run("UpdateOnlyLog", instance_id, "log", {"i": 0}, RunOptions(flush_update=True))
        probe = engine.store.probe

        async def counted(*args: Any, **kwargs: Any) -> Any:
            nonlocal reads
            reads += 1
            return await probe(*args, **kwargs)

        engine.store.probe = counted  # type: ignore[method-assign]
        for i in range(1, 21):
            served = await engine.run("UpdateOnlyLog", instance_id, "log", {"i": i})
            assert served.result is None and len(served.update_ids) == 1
        await engine.flush("UpdateOnlyLog", instance_id)
        assert (await engine.get_state("UpdateOnlyLog", instance_id)).state == {"items": list(range(21))}

    run_engines(redis_url, [Log], scenario)
    assert reads == 0


def test_an_update_only_run_on_a_stale_snapshot_still_applies_on_the_newest_state(redis_url: str) -> None:
    """Engine A's snapshot goes stale when engine B writes; A's next runs still apply on B's state."""

    async def scenario(here: AsyncEngine, there: AsyncEngine) -> None:
        instance_id = unique("stale-log")
        for i in range(3):  # A holds a snapshot of the instance
            await here.run("UpdateOnlyLog", instance_id, "log", {"i": i}, RunOptions(flush_update=True))
        for round_ in range(5):
            written = await there.write_state("UpdateOnlyLog", instance_id, {"items": [100 + round_]})
            served = await here.run(
                "UpdateOnlyLog", instance_id, "log", {"i": round_}, RunOptions(flush_update=True)
            )
            assert served.version >= written
            assert (await there.get_state("UpdateOnlyLog", instance_id)).state == {
                "items": [100 + round_, round_]
            }

    run_engines(redis_url, [Log], scenario, count=2)
