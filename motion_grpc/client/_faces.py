"""What the blocking and the asyncio face share: their constructors, attributes and streaming methods.

A face differs from the other only in how it sends a unary call (blocking,
or awaited) and in its channel; sync.py and aio.py hold just that.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Concatenate, Generic, ParamSpec, Protocol, TypeVar

import grpc

from motion_grpc._proto.motion.v1 import motion_pb2 as pb
from motion_grpc.client._core import ClientCore, InstanceCore, StreamCall, arguments_of
from motion_grpc.client._credentials import Metadata, Pem, bearer_metadata, channel_credentials
from motion_grpc.client._messages import channel_options

P = ParamSpec("P")
F = TypeVar("F", bound=Callable[..., Any])
S = TypeVar("S")
W = TypeVar("W")
ChannelT = TypeVar("ChannelT")
CoreT = TypeVar("CoreT")
CoreT_co = TypeVar("CoreT_co", covariant=True)


class Face(Protocol[CoreT_co]):
    """A client or a handle, as the method makers see it: the core it sends the calls of."""

    @property
    def _core(self) -> CoreT_co: ...


def face_method(make: Callable[..., Any], method: F) -> F:
    """`method` named and documented as the core method it sends, with its arguments (not its return)."""
    method.__name__ = make.__name__
    method.__qualname__ = make.__qualname__
    method.__doc__ = make.__doc__
    method.__signature__ = arguments_of(make)  # type: ignore[attr-defined]
    return method


def opening(
    make: Callable[Concatenate[CoreT, P], StreamCall[S]], wrap: Callable[[Any, S], W]
) -> Callable[Concatenate[Face[CoreT], P], W]:
    """A face method that starts the streaming call `make` builds and hands it to `wrap` (its iterator)."""

    def method(face: Face[CoreT], /, *args: P.args, **kwargs: P.kwargs) -> W:
        call = make(face._core, *args, **kwargs)
        return wrap(call.start(), call.state)

    return face_method(make, method)


@dataclass(frozen=True)
class Channels(Generic[ChannelT]):
    """How a face opens its channel: grpc's blocking functions, or grpc.aio's."""

    insecure: Callable[..., ChannelT]
    secure: Callable[..., ChannelT]
    #: A channel factory whose channels send the given metadata (API key or token) with every call.
    sending: Callable[[Callable[..., ChannelT], Metadata], Callable[..., ChannelT]]

    def open(
        self,
        target: str,
        credentials: grpc.ChannelCredentials | None,
        options: Sequence[tuple[str, Any]],
        metadata: Metadata = (),
    ) -> ChannelT:
        make = self.insecure
        if credentials is not None:
            make = functools.partial(self.secure, credentials=credentials)
        if metadata:
            make = self.sending(make, metadata)
        return make(target, options=list(options))


class ClientFace(Generic[ChannelT]):
    """What both clients are: a channel of the face's kind and the core whose calls go over it."""

    _channels: ClassVar[Channels[Any]]

    def __init__(
        self,
        target: str,
        *,
        credentials: grpc.ChannelCredentials | None = None,
        pickle: bool = False,
        options: Sequence[tuple[str, Any]] = (),
        tls: bool = False,
        root_certificates: Pem | None = None,
        client_cert: Pem | None = None,
        client_key: Pem | None = None,
        api_key: str | None = None,
        token: str | None = None,
    ) -> None:
        credentials = channel_credentials(credentials, tls, root_certificates, client_cert, client_key)
        metadata = bearer_metadata(api_key, token)
        self._channel: ChannelT = self._channels.open(target, credentials, channel_options(options), metadata)
        self._core = ClientCore(target, self._channel, pickle)

    @property
    def target(self) -> str:
        return self._core.target

    @property
    def stub(self) -> Any:
        """The generated MotionServiceStub, for requests the client has no method for."""
        return self._core.stub

    @property
    def use_pickle(self) -> bool:
        return self._core.use_pickle


class HandleFace:
    """What both instance handles are: the instance's core and the names it answers to."""

    def __init__(
        self,
        client: ClientFace[Any],
        component: str,
        instance_id: str,
        init_state_params: Mapping[str, Any] | None = None,
    ) -> None:
        self._core = InstanceCore(client._core, component, instance_id, init_state_params)
        self.component = component
        self.instance_id = instance_id

    @property
    def ref(self) -> pb.InstanceRef:
        return self._core.ref
