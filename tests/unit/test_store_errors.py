"""redis-py failures leave the store as the errors callers map to gRPC statuses (store.records)."""

from __future__ import annotations

import asyncio

import pytest
import redis

from motion_grpc.errors import InternalError, StoreUnavailableError
from motion_grpc.store.records import mapped_async, mapped_error, store_errors


@pytest.mark.parametrize(
    ("failure", "kind", "says"),
    [
        (redis.exceptions.BusyLoadingError("LOADING"), StoreUnavailableError, "loading its data"),
        (redis.exceptions.ConnectionError("refused"), StoreUnavailableError, "unavailable: refused"),
        (redis.exceptions.TimeoutError("no reply"), StoreUnavailableError, "unavailable: no reply"),
        (redis.exceptions.ResponseError("WRONGTYPE"), InternalError, "Redis error: WRONGTYPE"),
    ],
)
def test_each_failure_maps_the_same_through_every_path(
    failure: redis.exceptions.RedisError, kind: type[Exception], says: str
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
