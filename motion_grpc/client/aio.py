"""The asyncio Python client: a face over the client core whose calls are awaited."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Mapping
from types import TracebackType
from typing import Any, ClassVar, Concatenate, ParamSpec, TypeVar

from grpc import aio

from motion_grpc.client._core import Call, ClientCore, InstanceCore, StreamCall
from motion_grpc.client._credentials import async_sending
from motion_grpc.client._faces import Channels, ClientFace, Face, HandleFace, face_method, opening
from motion_grpc.client._messages import rpc_errors
from motion_grpc.client._streams import AsyncRunStream, AsyncWatch

P = ParamSpec("P")
R = TypeVar("R")
S = TypeVar("S")
W = TypeVar("W")
CoreT = TypeVar("CoreT")


async def _send(call: Call[R]) -> R:
    """Send one unary call and await its answer."""
    with rpc_errors:
        reply = await call.rpc(call.request, timeout=call.timeout)
    return call.result(reply)


def _awaited(
    make: Callable[Concatenate[CoreT, P], Call[R]],
) -> Callable[Concatenate[Face[CoreT], P], Coroutine[Any, Any, R]]:
    """The coroutine method that sends the call `make` builds and returns its answer."""

    async def method(face: Face[CoreT], /, *args: P.args, **kwargs: P.kwargs) -> R:
        return await _send(make(face._core, *args, **kwargs))

    return face_method(make, method)


def _awaited_opening(
    make: Callable[Concatenate[CoreT, P], StreamCall[S]], ready: Callable[[Any, S], Awaitable[W]]
) -> Callable[Concatenate[Face[CoreT], P], Coroutine[Any, Any, W]]:
    """The coroutine method that starts the streaming call `make` builds and awaits `ready` of it."""
    opened = opening(make, ready)

    async def method(face: Face[CoreT], /, *args: P.args, **kwargs: P.kwargs) -> W:
        return await opened(face, *args, **kwargs)

    return face_method(make, method)


class AsyncMotionClient(ClientFace[aio.Channel]):
    """A connection to a motion-grpc server, for asyncio code; see MotionClient."""

    _channels: ClassVar[Channels[aio.Channel]] = Channels(
        aio.insecure_channel, aio.secure_channel, async_sending
    )

    describe = _awaited(ClientCore.describe)

    def instance(
        self, component: str, instance_id: str, init_state_params: Mapping[str, Any] | None = None
    ) -> AsyncInstanceHandle:
        """A handle on one instance; nothing is sent until it is used."""
        return AsyncInstanceHandle(self, component, instance_id, init_state_params)

    async def list_instances(self, component: str, page_size: int = 100) -> AsyncIterator[str]:
        """Every instance id of a component, fetched page by page as the iteration goes."""
        for page in self._core.instance_pages(component, page_size):
            for instance_id in await _send(page):
                yield instance_id

    async def close(self) -> None:
        await self._channel.close(None)

    async def __aenter__(self) -> AsyncMotionClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()


class AsyncInstanceHandle(HandleFace):
    """One instance of one component on the server, for asyncio code; see InstanceHandle."""

    run = _awaited(InstanceCore.run)
    run_outcome = _awaited(InstanceCore.run_outcome)
    stream = opening(InstanceCore.stream, AsyncRunStream)
    watch = _awaited_opening(InstanceCore.watch, AsyncWatch.ready)
    get_state = _awaited(InstanceCore.get_state)
    version = _awaited(InstanceCore.version)
    flush = _awaited(InstanceCore.flush)
    write_state = _awaited(InstanceCore.write_state)
    delete = _awaited(InstanceCore.delete)
