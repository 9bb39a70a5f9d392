"""redis-py failures leave the store as the errors callers map to gRPC statuses (store.records)."""

from __future__ import annotations

import asyncio

import grpc
import pytest
import redis

from motion_grpc import errors
from motion_grpc.errors import InternalError, ResourceExhaustedError, StoreUnavailableError
from motion_grpc.store.records import mapped_async, mapped_error, store_errors

#: How Redis 6 wraps the error a script's redis.call met.
_SCRIPT_SAID = "ERR Error running script (call to f_c5f0): @user_script:3: @user_script: 3: "


@pytest.mark.parametrize(
    ("failure", "kind", "says"),
    [
        (redis.exceptions.BusyLoadingError("LOADING"), StoreUnavailableError, "loading its data"),
        (redis.exceptions.ConnectionError("refused"), StoreUnavailableError, "unavailable: refused"),
        (redis.exceptions.TimeoutError("no reply"), StoreUnavailableError, "unavailable: no reply"),
        (redis.exceptions.ReadOnlyError("READONLY replica"), StoreUnavailableError, "unavailable: READONLY"),
        (redis.exceptions.ClusterDownError("CLUSTERDOWN"), StoreUnavailableError, "unavailable: CLUSTERDOWN"),
        (redis.exceptions.TryAgainError("TRYAGAIN"), StoreUnavailableError, "unavailable: TRYAGAIN"),
        (redis.exceptions.RedisClusterException("no node"), StoreUnavailableError, "unavailable: no node"),
        (redis.exceptions.SlotNotCoveredError("slot 7"), StoreUnavailableError, "unavailable: slot 7"),
        (redis.exceptions.OutOfMemoryError("OOM"), ResourceExhaustedError, "out of memory"),
        (
            redis.exceptions.ResponseError(_SCRIPT_SAID + "-READONLY You can't write"),
            StoreUnavailableError,
            "READONLY",
        ),
        (
            redis.exceptions.ResponseError(_SCRIPT_SAID + "-OOM command not allowed"),
            ResourceExhaustedError,
            "OOM",
        ),
        (redis.exceptions.ResponseError(_SCRIPT_SAID + "-WRONGTYPE Operation"), InternalError, "WRONGTYPE"),
        (redis.exceptions.ResponseError("WRONGTYPE"), InternalError, "Redis error: WRONGTYPE"),
        (redis.exceptions.CrossSlotTransactionError("slots"), InternalError, "Redis error: slots"),
    ],
)
def test_each_failure_maps_the_same_through_every_path(
    failure: Exception, kind: type[Exception], says: str
) -> None:
    assert isinstance(mapped_error(failure), kind) and says in str(mapped_error(failure))

    with pytest.raises(kind, match=says) as raised, store_errors():
        raise failure
    assert raised.value.__cause__ is failure

    @mapped_async
    async def call() -> None:
        raise failure

    with pytest.raises(kind, match=says) as raised:
        asyncio.run(call())
    assert raised.value.__cause__ is failure


def test_a_client_tells_an_unreachable_server_from_its_redis_being_down() -> None:
    """UNAVAILABLE without the server's reason comes from gRPC itself: nothing to do with Redis."""
    unreachable = errors.error_for(grpc.StatusCode.UNAVAILABLE, "failed to connect to all addresses")
    assert type(unreachable) is errors.UnavailableError and isinstance(unreachable, ConnectionError)
    assert unreachable.message == "the server could not be reached: failed to connect to all addresses"
    store = errors.error_for(grpc.StatusCode.UNAVAILABLE, "Redis is down", reason="STORE_UNAVAILABLE")
    assert type(store) is errors.StoreUnavailableError and isinstance(store, errors.UnavailableError)


def test_a_stopping_server_is_unavailable_but_not_unreachable() -> None:
    stopping = errors.error_for(grpc.StatusCode.UNAVAILABLE, "shutting down", reason="SERVER_STOPPING")
    assert type(stopping) is errors.UnavailableError
    assert (stopping.message, stopping.reason) == ("shutting down", "SERVER_STOPPING")
