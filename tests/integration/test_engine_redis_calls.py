"""What an engine asks of Redis beyond the calls themselves: scripts loaded ahead, leases renewed when due."""

from __future__ import annotations

import asyncio
import itertools
import pathlib
import time
from typing import Any

import grpc
import pytest
import redis

from motion_grpc import Component
from motion_grpc.engine import AsyncEngine, EngineSettings, RunOptions
from motion_grpc.errors import StoreUnavailableError
from motion_grpc.store import RedisServer, RedisSettings, protocol
from motion_grpc.store.keys import InstanceKeys
from motion_grpc.store.scripts import COMMIT, ENQUEUE, INIT_BEGIN, INIT_COMMIT, TAKE, sha1
from motion_grpc.store.store import Store
from tests.helpers import assert_eventually, unique
from tests.integration.conftest import events_of, queued_unapplied

Notes = Component("RedisCallsNotes")


@Notes.init_state
def notes_setup() -> dict[str, int]:
    return {"count": 0}


@Notes.update("note")
async def notes_add(state: Any, props: Any) -> dict[str, int]:
    await asyncio.sleep(props["seconds"])
    return {"count": state["count"] + 1}


def _engine(url: str, lease_ttl: float = 5.0) -> AsyncEngine:
    return AsyncEngine(RedisSettings(url=url), [Notes], EngineSettings(lease_ttl=lease_ttl))


def test_a_fresh_engine_loads_its_scripts_so_a_first_burst_meets_no_noscript(tmp_path: pathlib.Path) -> None:
    """Without the load ahead, each of the burst's first commits met NOSCRIPT and loaded the script again."""
    shas = [sha1(source) for source in (INIT_BEGIN, INIT_COMMIT, ENQUEUE, TAKE, COMMIT)]
    with RedisServer(tmp_path / "redis", appendonly=False) as server:
        admin = redis.Redis.from_url(server.url)

        async def main() -> None:
            engine = await _engine(server.url).start()
            try:
                await asyncio.to_thread(assert_eventually, lambda: all(admin.script_exists(*shas)))
                ids = [unique("burst") for _ in range(50)]
                await asyncio.gather(
                    *(
                        engine.run(Notes.name, i, "note", {"seconds": 0.01}, RunOptions(flush_update=True))
                        for i in ids
                    )
                )
                states = await asyncio.gather(*(engine.get_state(Notes.name, i) for i in ids))
                assert [view.state["count"] for view in states] == [1] * 50
            finally:
                await engine.close()

        asyncio.run(main())
        errors = admin.info("errorstats")
        admin.close()
    assert "errorstat_NOSCRIPT" not in errors, errors


def test_leases_of_short_drains_are_never_renewed_and_long_ones_are(redis_url: str) -> None:
    """Leases are renewed only once 3/16 of their TTL has passed since a take set it."""
    renewed: list[str] = []

    async def main() -> None:
        engine = await _engine(redis_url, lease_ttl=6.0).start()  # renews what is 1.125 s old
        renew = engine.store.renew

        async def recorded(leases: Any, ttl_ms: int) -> list[bool]:
            renewed.extend(key for key, _ in leases)
            return await renew(leases, ttl_ms)

        engine.store.renew = recorded  # type: ignore[method-assign]
        try:
            short = [unique("short") for _ in range(5)]

            async def cycles(instance_id: str) -> None:  # 12 drains of 0.2 s each, one after the other
                for _ in range(12):
                    await engine.run(
                        Notes.name, instance_id, "note", {"seconds": 0.2}, RunOptions(flush_update=True)
                    )

            await asyncio.gather(*(cycles(instance_id) for instance_id in short))
            assert not renewed
            long = unique("long")
            await engine.run(Notes.name, long, "note", {"seconds": 2.5}, RunOptions(flush_update=True))
            assert set(renewed) == {engine.resolve(Notes.name, long)[1].lease}
            assert (await engine.get_state(Notes.name, long)).state == {"count": 1}
        finally:
            await engine.close()

    asyncio.run(main())


def test_a_long_op_s_lease_is_renewed_every_quarter_of_its_ttl_and_never_late(redis_url: str) -> None:
    """TTL 1.6 s: the first renewal within 5/16 of it (0.5 s) of the take, then one every 0.4 s;
    the bounds checked leave 0.3 s for a busy machine, and renewals never come at every tick."""
    started: list[float] = []
    renewals: list[float] = []

    async def main() -> None:
        engine = await _engine(redis_url, lease_ttl=1.6).start()
        renew = engine.store.renew

        async def recorded(leases: Any, ttl_ms: int) -> list[bool]:
            renewals.append(time.monotonic())
            return await renew(leases, ttl_ms)

        engine.store.renew = recorded  # type: ignore[method-assign]
        try:
            instance_id = unique("timed")
            await engine.run(Notes.name, instance_id, "note", {"seconds": 0.0}, RunOptions(flush_update=True))
            started.append(time.monotonic())
            await engine.run(Notes.name, instance_id, "note", {"seconds": 3.0}, RunOptions(flush_update=True))
            assert (await engine.get_state(Notes.name, instance_id)).state == {"count": 2}
        finally:
            await engine.close()

    asyncio.run(main())
    gaps = [later - earlier for earlier, later in itertools.pairwise(renewals)]
    assert renewals and renewals[0] - started[0] <= 0.8, (started, renewals)
    assert len(gaps) >= 4 and all(0.25 <= gap <= 0.8 for gap in gaps), gaps


def test_a_redis_that_turned_replica_answers_unavailable_so_clients_retry(tmp_path: pathlib.Path) -> None:
    """A failover leaves the engine on a read-only replica: runs fail UNAVAILABLE (retried), not INTERNAL."""
    with (
        RedisServer(tmp_path / "primary", appendonly=False) as primary,
        RedisServer(tmp_path / "replica", appendonly=False) as replica,
    ):
        admin = redis.Redis.from_url(replica.url)
        admin.replicaof("127.0.0.1", primary.port)
        admin.close()

        async def main() -> None:
            engine = await _engine(replica.url).start()
            try:
                with pytest.raises(StoreUnavailableError) as raised:
                    await engine.run(Notes.name, unique("replica"), "note", {"seconds": 0.0})
                assert raised.value.code == grpc.StatusCode.UNAVAILABLE
            finally:
                await engine.close()

        asyncio.run(main())


def test_a_take_sent_again_by_its_lease_holder_does_not_count_its_entries_twice(redis_url: str) -> None:
    """The take script itself, sent twice with one token (as a drain does when the first reply was
    lost): the entries it had started come back at the attempt they have, with no second RUNNING
    event. Another holder's take still counts."""
    instance_id = unique("lost-reply")
    keys = InstanceKeys.of(Notes.name, instance_id)

    async def main() -> list[list[int]]:
        enqueuer = await AsyncEngine(
            RedisSettings(url=redis_url), [Notes], EngineSettings(process_updates=False)
        ).start()
        try:
            for _ in range(3):
                await enqueuer.run(Notes.name, instance_id, "note", {"seconds": 0})
            store = enqueuer.store
            first = await store.take(keys, "holder-a", 60_000, [], True)
            again = await store.take(keys, "holder-a", 60_000, [], True)
            await store.release(keys.lease, "holder-a")
            other = await store.take(keys, "holder-b", 60_000, [], True)
            await store.release(keys.lease, "holder-b")
            return [first.attempts, again.attempts, other.attempts]
        finally:
            await enqueuer.close()

    assert asyncio.run(main()) == [[1], [1], [2]]
    statuses = [event.status for event in events_of(redis_url, Notes.name, instance_id)]
    assert statuses.count(protocol.RUNNING) == 2  # holder-a's take once, holder-b's once


def test_a_drain_whose_take_reply_was_lost_sends_it_again_and_counts_nothing_twice(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first take of a drain runs in Redis, and its reply is lost (a stall past the socket
    timeout, here made to happen): the drain sends it again with its token, and the update runs
    on its first attempt."""
    instance_id = unique("lost-take")
    [update_id] = queued_unapplied(redis_url, Notes, instance_id, "note", [{"seconds": 0}])
    take, lost = Store.take, []

    async def reply_lost(store: Store, keys: InstanceKeys, *args: Any, **kwargs: Any) -> Any:
        taken = await take(store, keys, *args, **kwargs)
        if keys.instance_id == instance_id and not lost:
            lost.append(taken)
            raise StoreUnavailableError("Timeout reading from the Redis server")
        return taken

    monkeypatch.setattr(Store, "take", reply_lost)

    async def main() -> None:
        engine = await _engine(redis_url).start()
        try:
            await engine.flush(Notes.name, instance_id, None, time.monotonic() + 30)
        finally:
            await engine.close()

    asyncio.run(main())
    assert lost  # the first take did run, and its reply went missing
    events = [e for e in events_of(redis_url, Notes.name, instance_id) if e.update_id == update_id]
    assert [(e.status, e.attempt) for e in events if e.status != protocol.QUEUED] == [
        (protocol.RUNNING, 1),
        (protocol.APPLIED, 1),
    ]
