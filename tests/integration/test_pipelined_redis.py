"""The auto-pipelined Redis client against a real Redis: order, replies, errors, failures, auth."""

from __future__ import annotations

import asyncio
import pathlib
from collections.abc import Iterator

import pytest
import redis

from motion_grpc.store import RedisServer
from motion_grpc.store.pipelined import PipelinedRedis
from tests.helpers import assert_eventually, unique


@pytest.fixture()
def admin(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


def run(coroutine: object) -> object:
    return asyncio.run(coroutine)  # type: ignore[arg-type]


def _blocked_clients(url: str) -> int:
    with redis.Redis.from_url(url) as admin:
        return int(admin.info("clients")["blocked_clients"])


async def _until_blocked(url: str, count: int) -> None:
    """Until Redis holds `count` clients blocked: each XREAD "$" is then in place, so it sees the
    next XADD to its stream (one that reached Redis first would be before its "$")."""
    await asyncio.to_thread(assert_eventually, lambda: _blocked_clients(url) >= count)


def test_concurrent_callers_each_get_their_own_reply(redis_url: str) -> None:
    """Thousands of commands from concurrent tasks share one connection; none gets another's reply."""
    key = unique("counter")
    names = [unique("k") for _ in range(500)]

    async def scenario() -> tuple[list[int], list[bytes | None]]:
        client = PipelinedRedis(redis_url)
        try:
            increments = await asyncio.gather(*(client.execute_command("INCR", key) for _ in range(2000)))
            await asyncio.gather(*(client.execute_command("SET", name, name) for name in names))
            values = await asyncio.gather(*(client.execute_command("GET", name) for name in names))
            return increments, values
        finally:
            await client.aclose()

    increments, values = run(scenario())  # type: ignore[misc]
    assert values == [name.encode() for name in names]
    assert sorted(increments) == list(range(1, 2001))


def test_replies_are_shaped_as_redis_py_shapes_them(redis_url: str, admin: redis.Redis) -> None:
    stream, hash_key, zset = unique("stream"), unique("hash"), unique("zset")
    first = admin.xadd(stream, {"a": "1", "b": "2"})
    admin.hset(hash_key, mapping={"x": "1", "y": "2"})

    async def scenario() -> None:
        client = PipelinedRedis(redis_url)
        try:
            assert await client.ping() is True
            assert await client.xrange(stream, "-", "+", count=5) == admin.xrange(stream, "-", "+", count=5)
            assert await client.xrevrange(stream, "+", "-", count=1) == [(first, {b"a": b"1", b"b": b"2"})]
            assert await client.hgetall(hash_key) == {b"x": b"1", b"y": b"2"}
            assert await client.hget(hash_key, "missing") is None
            assert await client.hexists(hash_key, "x") is True
            assert await client.zadd(zset, {"m": 5}, nx=True) == 1
            assert await client.zadd(zset, {"m": 9}, nx=True) == 0
            assert await client.zrange(zset, 0, -1) == [b"m"]
            assert await client.xlen(stream) == 1
            cursor, members = await client.sscan(unique("none"), 0, count=10)
            assert (cursor, members) == (0, [])
            seconds, micros = await client.time()
            assert seconds > 0 and 0 <= micros < 1_000_000
        finally:
            await client.aclose()

    run(scenario())
    assert admin.zscore(zset, "m") == 5


def test_pipelines_and_transactions(redis_url: str, admin: redis.Redis) -> None:
    key = unique("hash")
    admin.hset(key, "v", "7")

    async def scenario() -> None:
        client = PipelinedRedis(redis_url)
        try:
            pipe = client.pipeline(transaction=True)
            pipe.hget(key, "v")
            pipe.hgetall(key)
            assert await pipe.execute() == [b"7", {b"v": b"7"}]
            single = client.pipeline(transaction=False)
            single.hget(key, "v")
            assert await single.execute() == [b"7"]
            failing = client.pipeline(transaction=False)
            failing.evalsha("0" * 40, 0)
            failing.hget(key, "v")
            error, value = await failing.execute(raise_on_error=False)
            assert isinstance(error, redis.exceptions.NoScriptError) and value == b"7"
            with pytest.raises(redis.exceptions.NoScriptError):
                await client.evalsha("0" * 40, 0)
            wrong_type = client.pipeline(transaction=True)
            wrong_type.xlen(key)  # a hash: WRONGTYPE inside EXEC
            with pytest.raises(redis.exceptions.ResponseError, match="WRONGTYPE"):
                await wrong_type.execute()
            assert await client.hget(key, "v") == b"7"  # the connection is still in step
        finally:
            await client.aclose()

    run(scenario())


def test_a_lost_connection_fails_what_was_in_flight_and_the_next_command_reconnects(
    redis_url: str, admin: redis.Redis
) -> None:
    name = unique("client")

    async def scenario() -> None:
        client = PipelinedRedis(redis_url)
        try:
            await client.execute_command("CLIENT", "SETNAME", name)
            waiting = asyncio.ensure_future(client.execute_command("BLPOP", unique("never"), 10))
            queued = asyncio.ensure_future(client.ping())  # behind the BLPOP on the same connection
            await asyncio.sleep(0.2)
            await asyncio.to_thread(_kill_client, redis_url, name)
            for future in (waiting, queued):
                with pytest.raises(redis.exceptions.ConnectionError):
                    await future
            assert await client.ping() is True
        finally:
            await client.aclose()

    run(scenario())


def _kill_client(redis_url: str, name: str) -> None:
    with redis.Redis.from_url(redis_url) as admin:
        for info in admin.client_list():
            if info.get("name") == name:
                admin.client_kill_filter(_id=info["id"], skipme=True)


def test_a_reply_that_never_comes_times_out_then_recovers(redis_url: str, admin: redis.Redis) -> None:
    async def scenario() -> None:
        client = PipelinedRedis(redis_url, reply_timeout=0.3)
        try:
            assert await client.ping() is True
            admin.client_pause(1000, all=True)
            with pytest.raises(redis.exceptions.TimeoutError):
                await client.ping()
            admin.client_unpause()
            assert await client.ping() is True
        finally:
            admin.client_unpause()
            await client.aclose()

    run(scenario())


def test_cannot_connect_is_a_connection_error() -> None:
    with RedisServer(appendonly=False) as stopped:
        url = stopped.url
    with pytest.raises(redis.exceptions.ConnectionError, match="cannot connect"):
        run(PipelinedRedis(url, connect_timeout=0.5).ping())


def test_acl_user_password_and_database(redis_url: str, admin: redis.Redis) -> None:
    user = unique("user")
    admin.acl_setuser(user, enabled=True, passwords=["+s3cret"], keys=["*"], commands=["+@all"])
    base = redis_url.rsplit("/", 1)[0].replace("redis://", f"redis://{user}:s3cret@")
    try:

        async def scenario() -> None:
            client = PipelinedRedis(f"{base}/3")
            try:
                await client.execute_command("SET", "db-check", "three")
            finally:
                await client.aclose()
            wrong = PipelinedRedis(base.replace("s3cret", "wrong") + "/3")
            with pytest.raises(redis.exceptions.AuthenticationError):
                await wrong.ping()

        run(scenario())
        with redis.Redis.from_url(f"{redis_url.rsplit('/', 1)[0]}/3") as db3:
            assert db3.get("db-check") == b"three"
            db3.delete("db-check")
    finally:
        admin.acl_deluser(user)


def test_blocking_reads_wait_on_connections_of_their_own() -> None:
    """Blocked XREADs never hold up other commands; each wakes on its own stream; a timeout is []."""
    streams = [unique("events") for _ in range(50)]
    own = RedisServer(appendonly=False).start()

    async def scenario() -> None:
        client = PipelinedRedis(own.url)
        try:
            readers = [asyncio.ensure_future(client.xread({s: "$"}, count=5, block=5000)) for s in streams]
            await _until_blocked(own.url, len(streams))
            assert await client.ping() is True  # not stuck behind the blocked reads
            abandoned = asyncio.ensure_future(client.xread({unique("none"): "$"}, block=5000))
            await asyncio.sleep(0.1)
            abandoned.cancel()
            for index, stream in enumerate(streams):
                await client.execute_command("XADD", stream, "*", "n", str(index))
            replies = await asyncio.gather(*readers)
            assert [(name, entries[0][1]) for [[name, entries]] in replies] == [
                (stream.encode(), {b"n": str(index).encode()}) for index, stream in enumerate(streams)
            ]
            assert await client.xread({unique("quiet"): "$"}, block=100) == []
        finally:
            await client.aclose()

    try:
        run(scenario())
        with redis.Redis.from_url(own.url) as admin:  # closing the client closed every connection
            assert_eventually(lambda: len(admin.client_list()) == 1)
    finally:
        own.stop()


def test_an_idle_blocking_connection_closed_by_redis_is_not_reused() -> None:
    with RedisServer(appendonly=False) as own:

        async def scenario() -> None:
            client = PipelinedRedis(own.url, reply_timeout=0.5)
            try:
                assert await client.xread({unique("quiet"): "$"}, block=10) == []  # leaves one idle
                with redis.Redis.from_url(own.url) as admin:
                    admin.client_kill_filter(_type="normal", skipme=True)  # closes it, and the shared one
                await asyncio.sleep(0.1)
                stream = unique("events")
                reader = asyncio.ensure_future(client.xread({stream: "$"}, block=5000))
                await _until_blocked(own.url, 1)
                await client.execute_command("XADD", stream, "*", "n", "1")
                [[name, entries]] = await asyncio.wait_for(reader, 2)
                assert name == stream.encode() and entries[0][1] == {b"n": b"1"}
            finally:
                await client.aclose()

        run(scenario())


def test_a_restarted_redis_is_told_apart_from_a_dropped_connection(tmp_path: pathlib.Path) -> None:
    """on_restart callbacks run when a new connection reaches another Redis process only."""
    told: list[str] = []
    server = RedisServer(tmp_path / "redis", appendonly=False).start()

    async def scenario() -> None:
        client = PipelinedRedis(server.url)
        client.on_restart(lambda: told.append("restarted"))
        try:
            await client.ping()
            await client.execute_command("CLIENT", "KILL", "TYPE", "normal", "SKIPME", "no")
            await _eventually_pings(client)  # the same Redis, reached again
            assert told == []
            await asyncio.to_thread(server.kill)
            await asyncio.to_thread(server.start)
            await _eventually_pings(client)
            assert told == ["restarted"]
        finally:
            await client.aclose()

    try:
        run(scenario())
    finally:
        server.cleanup()


async def _eventually_pings(client: PipelinedRedis) -> None:
    for _ in range(100):
        try:
            await client.ping()
            return
        except redis.exceptions.ConnectionError:
            await asyncio.sleep(0.05)
    raise AssertionError("Redis did not answer again")
