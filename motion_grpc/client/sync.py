"""The blocking Python client: a face over the client core that waits for each answer."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from types import TracebackType
from typing import Any, ClassVar, Concatenate, ParamSpec, TypeVar

import grpc

from motion_grpc.client._core import Call, ClientCore, InstanceCore
from motion_grpc.client._credentials import sync_sending
from motion_grpc.client._faces import Channels, ClientFace, Face, HandleFace, face_method, opening
from motion_grpc.client._messages import rpc_errors
from motion_grpc.client._streams import RunStream, Watch

P = ParamSpec("P")
R = TypeVar("R")
CoreT = TypeVar("CoreT")


def _send(call: Call[R]) -> R:
    """Send one unary call and wait for its answer."""
    with rpc_errors:
        reply = call.rpc(call.request, timeout=call.timeout)
    return call.result(reply)


def _blocking(make: Callable[Concatenate[CoreT, P], Call[R]]) -> Callable[Concatenate[Face[CoreT], P], R]:
    """The face method that sends the call `make` builds and returns its answer."""

    def method(face: Face[CoreT], /, *args: P.args, **kwargs: P.kwargs) -> R:
        return _send(make(face._core, *args, **kwargs))

    return face_method(make, method)


class MotionClient(ClientFace[grpc.Channel]):
    """A connection to a motion-grpc server.

    Args:
        target: "host:port" of the server.
        credentials: Channel credentials for TLS; plaintext when None (or use the TLS options below).
        pickle: Send props and receive results as cloudpickle, for Python
            objects that are not JSON-like (the server needs --allow-pickle).
        options: Extra grpc channel options.
        tls: Connect over TLS, trusting the system's root certificates.
        root_certificates: The CA that signed the server's certificate (PEM bytes or a file path);
            implies TLS.
        client_cert: This client's certificate chain, for a server that requires client
            certificates (--tls-client-ca); with client_key.
        client_key: This client's private key.
        api_key: Sent as `authorization: Bearer KEY` on every call (--api-key-file).
        token: An instance token (`motion-grpc token issue`), sent the same way; give one of the two.
    """

    _channels: ClassVar[Channels[grpc.Channel]] = Channels(
        grpc.insecure_channel, grpc.secure_channel, sync_sending
    )

    describe = _blocking(ClientCore.describe)
    _list_page = _blocking(ClientCore.list_page)

    def instance(
        self, component: str, instance_id: str, init_state_params: Mapping[str, Any] | None = None
    ) -> InstanceHandle:
        """A handle on one instance; nothing is sent until it is used."""
        return InstanceHandle(self, component, instance_id, init_state_params)

    def list_instances(self, component: str, page_size: int = 100) -> Iterator[str]:
        """Every instance id of a component, fetched page by page as the iteration goes."""
        for page in self._core.instance_pages(component, page_size):
            yield from _send(page)

    def wait_ready(self, timeout: float = 10.0) -> None:
        """Block until the channel is connected (grpc.FutureTimeoutError after `timeout` seconds)."""
        grpc.channel_ready_future(self._channel).result(timeout=timeout)

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> MotionClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class InstanceHandle(HandleFace):
    """One instance of one component on the server."""

    run = _blocking(InstanceCore.run)
    run_outcome = _blocking(InstanceCore.run_outcome)
    stream = opening(InstanceCore.stream, RunStream)
    watch = opening(InstanceCore.watch, Watch.ready)
    get_state = _blocking(InstanceCore.get_state)
    flush = _blocking(InstanceCore.flush)
    write_state = _blocking(InstanceCore.write_state)
    delete = _blocking(InstanceCore.delete)

    @property
    def version(self) -> int:
        """The committed state version (1 after init_state, +1 per applied update)."""
        return _send(self._core.version())
