"""Both Python clients against a real server: what their one core does for each of them."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any, NoReturn

import grpc
import pytest

from motion_grpc import AsyncMotionClient, MotionClient
from motion_grpc._proto.motion.v1 import motion_pb2_grpc
from motion_grpc.errors import (
    CLASS_BY_CODE,
    ERROR_CLASSES,
    MotionError,
    OpError,
    UnavailableError,
)
from motion_grpc.server.interceptors import status_trailers
from motion_grpc.store import scripts
from tests.helpers import ServerProcess, assert_eventually, fake_motion_server, unique
from tests.integration.conftest import events_of


class _FailingService(motion_pb2_grpc.MotionServiceServicer):
    """A fake server whose every answer is the status named by the instance id ("NOT_FOUND", ...),
    with the reason a motion-grpc server sends (instance id "BARE_<code>": gRPC's own, none)."""

    def _fail(self, request: Any, context: grpc.ServicerContext) -> NoReturn:
        name = request.instance.instance_id
        code = grpc.StatusCode[name.removeprefix("BARE_")]
        if name.startswith("BARE_"):
            context.abort(code, "failed on purpose")
        cls = CLASS_BY_CODE[code]
        error = OpError("failed on purpose", "KeyError") if cls is OpError else cls("failed on purpose")
        context.set_trailing_metadata(status_trailers(error, code, "failed on purpose"))
        context.abort(code, "failed on purpose")

    GetState = WriteState = RunStream = WatchUpdates = _fail


@pytest.fixture(scope="module")
def failing_server() -> Iterator[str]:
    with fake_motion_server(_FailingService()) as target:
        yield target


def _raised(error: MotionError, cls: type[MotionError]) -> None:
    assert type(error) is cls and error.message == "failed on purpose" and error.reason == cls.reason
    if cls is OpError:
        assert error.error_type == "KeyError"  # type: ignore[attr-defined]


@pytest.mark.parametrize("cls", ERROR_CLASSES, ids=lambda cls: cls.__name__)
def test_both_faces_raise_the_class_of_each_status_in_the_table(
    failing_server: str, cls: type[MotionError]
) -> None:
    """Unary calls, streamed runs and watches alike, blocking and awaited."""
    with MotionClient(failing_server) as blocking:
        handle = blocking.instance("Any", cls.code.name)
        for failing in (handle.get_state, lambda: handle.write_state({}), lambda: list(handle.stream("f"))):
            with pytest.raises(MotionError) as info:
                failing()
            _raised(info.value, cls)
        with pytest.raises(MotionError) as info:
            handle.watch()
        _raised(info.value, cls)

    async def main() -> None:
        async with AsyncMotionClient(failing_server) as awaited:
            handle = awaited.instance("Any", cls.code.name)
            with pytest.raises(MotionError) as info:
                await handle.version()
            _raised(info.value, cls)
            with pytest.raises(MotionError) as info:
                [item async for item in handle.stream("f")]
            _raised(info.value, cls)
            with pytest.raises(MotionError) as info:
                await handle.watch()
            _raised(info.value, cls)

    asyncio.run(main())


def test_unavailable_from_grpc_itself_is_the_server_unreachable_not_its_redis(failing_server: str) -> None:
    """UNAVAILABLE with no reason of a server's: what gRPC answers when no server did."""
    with MotionClient(failing_server) as blocking, pytest.raises(UnavailableError) as info:
        blocking.instance("Any", "BARE_UNAVAILABLE").get_state()
    assert type(info.value) is UnavailableError and info.value.reason == ""
    assert info.value.message == "the server could not be reached: failed on purpose"


def _failed_once(redis_url: str, instance_id: str) -> bool:
    return any(e.status == scripts.FAILED for e in events_of(redis_url, "Faulty", instance_id))


def test_a_flush_after_a_stream_reports_its_update_that_failed_at_once(
    client: MotionClient, redis_url: str
) -> None:
    """A streamed run's updates count as run by the handle, as a plain run's do."""
    instance_id = unique("streamfail")
    handle = client.instance("Faulty", instance_id)
    with handle.stream("go", {"fail_update": True}) as items:
        assert list(items) == [0]
    (update_id,) = items.update_ids
    assert_eventually(lambda: _failed_once(redis_url, instance_id))  # ended before the flush began
    assert [(o.update_id, o.error_type) for o in handle.flush().failed] == [(update_id, "KeyError")]
    assert handle.flush().failed == []  # reported once


def test_the_asyncio_flush_after_a_stream_reports_its_failed_update(
    server: ServerProcess, redis_url: str
) -> None:
    instance_id = unique("astreamfail")

    async def main() -> None:
        async with AsyncMotionClient(server.target) as aclient:
            handle = aclient.instance("Faulty", instance_id)
            stream = handle.stream("go", {"fail_update": True})
            assert [item async for item in stream] == [0]
            await asyncio.to_thread(assert_eventually, lambda: _failed_once(redis_url, instance_id))
            flushed = await handle.flush()
            assert [(o.update_id, o.error_type) for o in flushed.failed] == [
                (stream.update_ids[0], "KeyError")
            ]

    asyncio.run(main())
