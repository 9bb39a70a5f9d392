"""How the Python clients prove who they are: TLS (and client certificates), API keys and tokens.

An API key or token travels as `authorization: Bearer ...` metadata on
every call. It is attached by a channel interceptor rather than by gRPC call
credentials, which gRPC sends only over TLS: a loopback server, or one
behind a mesh that encrypts for it (--insecure), takes keys over plaintext.
"""

from __future__ import annotations

import pathlib
from collections.abc import Callable
from typing import Any, TypeVar

import grpc
from grpc import aio

#: PEM data as bytes, or the path of a PEM file.
Pem = bytes | str | pathlib.Path
Metadata = tuple[tuple[str, str], ...]
ChannelT = TypeVar("ChannelT")


def channel_credentials(
    credentials: grpc.ChannelCredentials | None,
    tls: bool,
    root_certificates: Pem | None,
    client_cert: Pem | None,
    client_key: Pem | None,
) -> grpc.ChannelCredentials | None:
    """The channel's TLS credentials, from `credentials` or from the TLS options; None for plaintext."""
    wants_tls = tls or any(pem is not None for pem in (root_certificates, client_cert, client_key))
    if credentials is not None and wants_tls:
        raise ValueError("give credentials= or the TLS options (tls, root_certificates, client_cert, ...)")
    if (client_cert is None) != (client_key is None):
        raise ValueError("client_cert and client_key go together: give both, or neither")
    if not wants_tls:
        return credentials
    return grpc.ssl_channel_credentials(
        root_certificates=_pem(root_certificates),
        private_key=_pem(client_key),
        certificate_chain=_pem(client_cert),
    )


def _pem(value: Pem | None) -> bytes | None:
    if value is None or isinstance(value, bytes):
        return value
    return pathlib.Path(value).read_bytes()


def bearer_metadata(api_key: str | None, token: str | None) -> Metadata:
    """The metadata that carries an API key or a token (one of them: the server takes one)."""
    if api_key is not None and token is not None:
        raise ValueError("give api_key= or token=, not both: a call carries one credential")
    credential = api_key if api_key is not None else token
    if credential is None:
        return ()
    if not credential or any(c.isspace() for c in credential):
        raise ValueError("an API key or token is one word, without spaces")
    return (("authorization", f"Bearer {credential}"),)


class _SyncMetadata(grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor):  # type: ignore[type-arg]
    """Adds fixed metadata to every call of a blocking channel."""

    def __init__(self, metadata: Metadata) -> None:
        self._metadata = metadata

    def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
        return continuation(_CallDetails(details, self._metadata), request)

    def intercept_unary_stream(self, continuation: Any, details: Any, request: Any) -> Any:
        return continuation(_CallDetails(details, self._metadata), request)


class _CallDetails(grpc.ClientCallDetails):
    """grpc.ClientCallDetails is abstract: the details of a blocking call, with metadata added."""

    def __init__(self, details: Any, metadata: Metadata) -> None:
        self.method = details.method
        self.timeout = details.timeout
        self.metadata = (*(details.metadata or ()), *metadata)
        self.credentials = details.credentials
        self.wait_for_ready = details.wait_for_ready
        self.compression = getattr(details, "compression", None)


class _AsyncMetadata:
    """Adds fixed metadata to every call of an asyncio channel.

    grpc.aio files an interceptor under the first call kind it implements
    only, so each kind gets its own subclass.
    """

    def __init__(self, metadata: Metadata) -> None:
        self._metadata = metadata

    def _details(self, details: aio.ClientCallDetails) -> aio.ClientCallDetails:
        metadata = aio.Metadata(*(details.metadata or ()), *self._metadata)
        return details._replace(metadata=metadata)  # type: ignore[attr-defined,no-any-return]


class _AsyncUnaryMetadata(_AsyncMetadata, aio.UnaryUnaryClientInterceptor):  # type: ignore[type-arg]
    async def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
        return await continuation(self._details(details), request)


class _AsyncStreamMetadata(_AsyncMetadata, aio.UnaryStreamClientInterceptor):  # type: ignore[type-arg]
    async def intercept_unary_stream(self, continuation: Any, details: Any, request: Any) -> Any:
        return await continuation(self._details(details), request)


def sync_sending(make: Callable[..., grpc.Channel], metadata: Metadata) -> Callable[..., grpc.Channel]:
    """`make` (a blocking channel factory) whose channels send `metadata` with every call."""

    def opened(target: str, **kwargs: Any) -> grpc.Channel:
        return grpc.intercept_channel(make(target, **kwargs), _SyncMetadata(metadata))

    return opened


def async_sending(make: Callable[..., aio.Channel], metadata: Metadata) -> Callable[..., aio.Channel]:
    """`make` (an asyncio channel factory) whose channels send `metadata` with every call."""

    def opened(target: str, **kwargs: Any) -> aio.Channel:
        interceptors = [_AsyncUnaryMetadata(metadata), _AsyncStreamMetadata(metadata)]
        return make(target, interceptors=interceptors, **kwargs)

    return opened
