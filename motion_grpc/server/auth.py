"""Who may call what: API keys with roles, instance-scoped tokens, and the interceptor that checks them.

A caller sends `authorization: Bearer CREDENTIAL`, an API key or a token
(see tokens.py). Roles:

    admin    every RPC
    client   Run, RunStream, GetState, FlushUpdates, WatchUpdates, DescribeComponents
    token    the client RPCs, on the one instance it names (DescribeComponents too:
             it names no instance and tells only what the server hosts); never
             pickled payloads, since unpickling runs code

Health and reflection answer everyone: load balancers and tools call them
without credentials. No credential or a wrong one: UNAUTHENTICATED; a valid
one without the right: PERMISSION_DENIED. The keys file holds one key a
line, `ROLE KEY` or `ROLE sha256:HEX`; only digests are kept in memory and
a presented key is compared, by its digest, in constant time.
"""

from __future__ import annotations

import contextlib
import enum
import hashlib
import hmac
import logging
import pathlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

import grpc
from grpc import aio

from motion_grpc.errors import MotionError, PermissionDeniedError, UnauthenticatedError, status_for
from motion_grpc.grpc_handlers import Handler
from motion_grpc.logs import RateLimitedLog, excerpt
from motion_grpc.server import tokens
from motion_grpc.server.interceptors import status_trailers

log = logging.getLogger(__name__)
_flood_safe_log = RateLimitedLog(log)

MOTION_SERVICE = "motion.v1.MotionService"
#: Services that answer without credentials.
OPEN_SERVICES = frozenset(
    {
        "grpc.health.v1.Health",
        "grpc.reflection.v1.ServerReflection",
        "grpc.reflection.v1alpha.ServerReflection",
    }
)
#: The MotionService methods of the client role (and of tokens, on their instance).
CLIENT_METHODS = frozenset(
    {"Run", "RunStream", "GetState", "FlushUpdates", "WatchUpdates", "DescribeComponents"}
)
#: Shortest plain API key accepted in a keys file.
MIN_KEY_LENGTH = 16

_MISSING = "missing credentials: send the metadata 'authorization: Bearer <API key or token>'"
_SHA256_PREFIX = "sha256:"

Context: TypeAlias = "aio.ServicerContext[Any, Any]"


class Role(enum.Enum):
    ADMIN = "admin"
    CLIENT = "client"
    TOKEN = "token"


class CredentialsFileError(ValueError):
    """A keys or secret file the server cannot use; it refuses to start (or keeps its old keys)."""


@dataclass(frozen=True)
class ApiKeys:
    """The SHA-256 digests of the accepted API keys and the role of each."""

    digests: tuple[tuple[bytes, Role], ...]

    def role_of(self, key: str) -> Role | None:
        """The role of `key`, or None; compares with every digest, so the time says nothing."""
        presented = hashlib.sha256(key.encode("utf-8")).digest()
        found = None
        for digest, role in self.digests:
            if hmac.compare_digest(digest, presented):
                found = role
        return found


def parse_api_keys(text: str, source: str) -> ApiKeys:
    """The keys of a keys file's text; CredentialsFileError naming the first bad line."""
    digests: dict[bytes, int] = {}
    entries: list[tuple[bytes, Role]] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        try:
            digest, role = _parse_key_line(line)
        except ValueError as exc:
            raise CredentialsFileError(f"{source} line {number}: {exc}") from None
        if digest in digests:
            raise CredentialsFileError(f"{source} line {number}: the same key as line {digests[digest]}")
        digests[digest] = number
        entries.append((digest, role))
    if not entries:
        raise CredentialsFileError(f"{source} holds no keys (lines 'admin KEY' or 'client sha256:HEX')")
    return ApiKeys(tuple(entries))


def _parse_key_line(line: str) -> tuple[bytes, Role]:
    parts = line.split()
    if len(parts) != 2:
        raise ValueError(f"expected 'ROLE KEY' or 'ROLE sha256:HEX', found {len(parts)} words")
    role_name, key = parts
    if role_name not in (Role.ADMIN.value, Role.CLIENT.value):
        raise ValueError(f"unknown role {excerpt(role_name, 40)}; roles are 'admin' and 'client'")
    role = Role(role_name)
    if key.startswith(_SHA256_PREFIX):
        hex_digest = key[len(_SHA256_PREFIX) :]
        if len(hex_digest) != 64 or not all(c in "0123456789abcdefABCDEF" for c in hex_digest):
            raise ValueError("sha256: must be followed by 64 hex digits")
        return bytes.fromhex(hex_digest), role
    if len(key) < MIN_KEY_LENGTH:
        raise ValueError(f"key of {len(key)} characters; at least {MIN_KEY_LENGTH}")
    return hashlib.sha256(key.encode("utf-8")).digest(), role


@dataclass(frozen=True)
class AuthFiles:
    """Where the server's credentials are: an API keys file, a token secret file, or both."""

    api_key_file: str | None = None
    token_secret_file: str | None = None

    @property
    def configured(self) -> bool:
        return bool(self.api_key_file or self.token_secret_file)

    def load(self) -> Credentials:
        """Read both files; CredentialsFileError saying what is wrong with one."""
        keys = None
        if self.api_key_file:
            keys = parse_api_keys(_read_text(self.api_key_file), self.api_key_file)
        secret = None
        if self.token_secret_file:
            try:
                secret = tokens.read_secret(self.token_secret_file)
            except tokens.SecretFileError as exc:
                raise CredentialsFileError(str(exc)) from None
        return Credentials(keys, secret)


def _read_text(path: str) -> str:
    try:
        return pathlib.Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise CredentialsFileError(f"cannot read API key file {path}: {why or exc}") from None


@dataclass(frozen=True)
class Caller:
    """An authenticated caller: its role, and for a token the one instance it may touch."""

    role: Role
    scope: tokens.TokenScope | None = None


@dataclass(frozen=True)
class Credentials:
    """What the server accepts right now (replaced as a whole on reload)."""

    api_keys: ApiKeys | None
    token_secret: bytes | None

    def authenticate(self, metadata: Sequence[tuple[str, str | bytes]] | None) -> Caller:
        """The caller behind the `authorization` metadata; UnauthenticatedError when none is valid."""
        credential = _bearer(metadata)
        role = self.api_keys.role_of(credential) if self.api_keys else None
        if role is not None:
            return Caller(role)
        if self.token_secret is not None and tokens.looks_like_token(credential):
            return Caller(Role.TOKEN, tokens.verify_token(self.token_secret, credential))
        raise UnauthenticatedError(tokens.INVALID_TOKEN)


def _bearer(metadata: Sequence[tuple[str, str | bytes]] | None) -> str:
    values = [value for key, value in metadata or () if key == "authorization"]
    if not values:
        raise UnauthenticatedError(_MISSING)
    if len(values) > 1 or not isinstance(values[0], str):
        raise UnauthenticatedError("send exactly one 'authorization: Bearer ...' metadata entry")
    scheme, _, credential = values[0].strip().partition(" ")
    if scheme.lower() != "bearer" or not credential.strip():
        raise UnauthenticatedError(_MISSING)
    return credential.strip()


def authorize(caller: Caller, service: str, method: str) -> None:
    """PermissionDeniedError unless `caller`'s role may call `method` (the instance is checked later)."""
    if caller.role is Role.ADMIN:
        return
    if service == MOTION_SERVICE and method in CLIENT_METHODS:
        return
    raise PermissionDeniedError(
        f"{service}/{method} needs the admin role; this caller's role is {caller.role.value}"
    )


def check_scope(scope: tokens.TokenScope, request: Any) -> None:
    """PermissionDeniedError unless the request stays on the token's instance, sends no pickle and
    does not choose how the instance is created."""
    if getattr(request, "pickled_props", b""):
        raise PermissionDeniedError("instance tokens may not send pickled props; send props as a Struct")
    init_state_params = getattr(request, "init_state_params", None)
    if init_state_params is not None and init_state_params.fields:
        raise PermissionDeniedError(
            "instance tokens may not send init_state_params: the instance is created with init_state's "
            "defaults, or beforehand by a caller with an API key"
        )
    if not hasattr(request, "instance"):
        return  # DescribeComponents: no instance, nothing stored
    ref = request.instance
    if (ref.component, ref.instance_id) != (scope.component, scope.instance_id):
        raise PermissionDeniedError(
            f"this token is for one instance only, not {excerpt(ref.component, 80)}/"
            f"{excerpt(ref.instance_id, 80)}"
        )


class AuthInterceptor(aio.ServerInterceptor):  # type: ignore[type-arg]
    """Refuse calls without the credentials their method needs, before a request is even parsed.

    Refusals abort the call themselves, so they do not depend on where the
    error-mapping interceptor sits; a token's instance is checked once the
    request is parsed, in a thin wrapper around the method.
    """

    def __init__(self, files: AuthFiles) -> None:
        self._files = files
        self._credentials = files.load()

    def reload(self) -> bool:
        """Read the files again (on SIGHUP); on any error keep the current credentials and log why."""
        try:
            credentials = self._files.load()
        except CredentialsFileError as exc:
            log.error("credentials not reloaded, the previous ones stay in force: %s", exc)
            return False
        self._credentials = credentials
        keys = len(credentials.api_keys.digests) if credentials.api_keys else 0
        secret = "set" if credentials.token_secret is not None else "none"
        log.info("credentials reloaded: %d API keys, token secret %s", keys, secret)
        return True

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Handler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Handler:
        handler = await continuation(handler_call_details)
        service, _, method = handler_call_details.method.strip("/").partition("/")
        if handler is None or service in OPEN_SERVICES:
            return handler
        try:
            credentials = self._credentials
            caller = credentials.authenticate(handler_call_details.invocation_metadata)
            authorize(caller, service, method)
        except MotionError as exc:
            _flood_safe_log.warning(f"refused:{exc.code}", "refused %s/%s: %s", service, method, exc.message)
            return _refusing(handler, exc)
        if caller.scope is not None:
            handler = _scoped(handler, caller.scope)
        if handler.unary_stream is None:
            return handler
        metadata = handler_call_details.invocation_metadata
        admission = _StreamAdmission(self, credentials, caller, metadata, service, method)
        return _revocable(handler, admission)

    @property
    def credentials(self) -> Credentials:
        return self._credentials


@dataclass
class _StreamAdmission:
    """What an open stream was let in with: checked again before each message it sends, so a
    stream ends once its token expires or a reload no longer accepts its credential."""

    interceptor: AuthInterceptor
    credentials: Credentials
    caller: Caller
    metadata: Sequence[tuple[str, str | bytes]] | None
    service: str
    method: str

    def check(self) -> None:
        scope = self.caller.scope
        if scope is not None and scope.expires_at <= time.time():
            raise UnauthenticatedError("the token expired while the stream was open; ask for a new one")
        current = self.interceptor.credentials
        if current is not self.credentials:  # reloaded since the last look
            caller = current.authenticate(self.metadata)
            authorize(caller, self.service, self.method)
            self.credentials, self.caller = current, caller


def _ignored(data: bytes) -> None:
    """The deserializer of a refused call: what an unauthenticated caller sent is never parsed."""
    return None


async def _abort(context: Context, error: MotionError) -> None:
    """End the call with `error`'s status and its ErrorInfo reason, as on every error."""
    code, message = status_for(error)
    await context.abort(code, message, trailing_metadata=status_trailers(error, code, message))


def _refusing(handler: Handler, error: MotionError) -> Handler:
    """A handler of `handler`'s kind that answers `error`'s status without running anything."""

    async def refuse(request: Any, context: Context) -> Any:
        await _abort(context, error)

    async def refuse_stream(request: Any, context: Context) -> AsyncIterator[Any]:
        await _abort(context, error)
        yield  # pragma: no cover - abort raises; this line makes an async generator

    return _same_kind(handler, refuse, refuse_stream, _ignored)


def _revocable(handler: Handler, admission: _StreamAdmission) -> Handler:
    """The stream `handler`, ended (UNAUTHENTICATED or PERMISSION_DENIED) at its next message once
    its credential is no longer accepted; WatchUpdates sends one at least every heartbeat."""
    run_stream: Any = handler.unary_stream

    async def stream(request: Any, context: Context) -> AsyncIterator[Any]:
        async with contextlib.aclosing(run_stream(request, context)) as items:
            async for item in items:
                try:
                    admission.check()
                except MotionError as exc:
                    log.info("ended %s/%s: %s", admission.service, admission.method, exc.message)
                    await _abort(context, exc)
                yield item

    return grpc.unary_stream_rpc_method_handler(
        stream,
        request_deserializer=handler.request_deserializer,
        response_serializer=handler.response_serializer,
    )


def _scoped(handler: Handler, scope: tokens.TokenScope) -> Handler:
    """`handler`, run only for requests on the token's instance."""
    run_unary: Any = handler.unary_unary
    run_stream: Any = handler.unary_stream

    async def check(request: Any, context: Context) -> None:
        try:
            check_scope(scope, request)
        except MotionError as exc:
            await _abort(context, exc)

    async def unary(request: Any, context: Context) -> Any:
        await check(request, context)
        return await run_unary(request, context)

    async def stream(request: Any, context: Context) -> AsyncIterator[Any]:
        await check(request, context)
        async for item in run_stream(request, context):
            yield item

    return _same_kind(handler, unary, stream, handler.request_deserializer)


def _same_kind(
    handler: Handler,
    unary: Callable[[Any, Context], Awaitable[Any]],
    stream: Callable[[Any, Context], AsyncIterator[Any]],
    deserializer: Callable[[bytes], Any] | None,
) -> Handler:
    """A unary-unary or unary-stream handler, as `handler` is (MotionService has no other kinds)."""
    behavior: Any = stream if handler.unary_stream is not None else unary
    make: Any = (
        grpc.unary_stream_rpc_method_handler
        if handler.unary_stream is not None
        else grpc.unary_unary_rpc_method_handler
    )
    return make(  # type: ignore[no-any-return]
        behavior, request_deserializer=deserializer, response_serializer=handler.response_serializer
    )
