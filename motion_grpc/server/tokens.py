"""Instance-scoped tokens: signed, expiring permission to call the client-role RPCs on one instance.

A browser-facing backend holds an API key; each of its users gets a token
for their own instance only. A token is

    mgt1.<payload>.<signature>

with both parts base64url without padding. The payload is binary and
length-prefixed (expiry as Unix seconds, component, instance id), never
pickle or anything evaluated; the signature is HMAC-SHA256 over
"mgt1.<payload>" with the server's token secret. The version prefix is
signed too, so a later format cannot be replayed as this one. Nothing of a
token is parsed before its signature checks out.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import pathlib
import struct
import time
from dataclasses import dataclass

from motion_grpc.errors import UnauthenticatedError
from motion_grpc.names import validate_name

#: Every token starts with this; it names the format version.
TOKEN_PREFIX = "mgt1."
#: Shortest token secret accepted, in bytes: HMAC-SHA256 wants a key as long as its output.
MIN_SECRET_BYTES = 32
#: Longest text looked at as a token: longer ones are refused before any hashing.
MAX_TOKEN_LENGTH = 2048

_EXPIRY = struct.Struct(">Q")
_LENGTH = struct.Struct(">H")
#: The one message every refused token gets: which check failed would help a forger.
INVALID_TOKEN = "invalid credentials"


class SecretFileError(ValueError):
    """A token secret file that cannot be used (missing, unreadable or too short)."""


@dataclass(frozen=True)
class TokenScope:
    """What a verified token allows: one instance of one component, until `expires_at`."""

    component: str
    instance_id: str
    expires_at: int


def read_secret(path: str | pathlib.Path) -> bytes:
    """The secret in `path` (surrounding whitespace removed); SecretFileError when unusable."""
    try:
        secret = pathlib.Path(path).read_bytes().strip()
    except OSError as exc:
        raise SecretFileError(f"cannot read token secret file {path}: {exc.strerror or exc}") from exc
    if len(secret) < MIN_SECRET_BYTES:
        raise SecretFileError(
            f"token secret file {path} holds {len(secret)} bytes; at least {MIN_SECRET_BYTES} are needed "
            "(e.g. the output of `openssl rand -hex 32`)"
        )
    return secret


def issue_token(secret: bytes, component: str, instance_id: str, ttl: float, now: float | None = None) -> str:
    """A token for one instance, valid `ttl` seconds from `now` (default: the current time)."""
    validate_name(component, "component")
    validate_name(instance_id, "instance id")
    if not ttl > 0:
        raise ValueError("ttl must be a number of seconds > 0")
    expires_at = int((time.time() if now is None else now) + ttl)
    payload = _EXPIRY.pack(expires_at) + _field(component) + _field(instance_id)
    signed = TOKEN_PREFIX + _encode(payload)
    return f"{signed}.{_encode(_sign(secret, signed))}"


def looks_like_token(credential: str) -> bool:
    """Whether a bearer credential claims to be a token (rather than an API key)."""
    return credential.startswith(TOKEN_PREFIX)


def verify_token(secret: bytes, token: str, now: float | None = None) -> TokenScope:
    """The scope of a valid, unexpired token; UnauthenticatedError otherwise."""
    signed, _, signature = token.rpartition(".")
    if len(token) > MAX_TOKEN_LENGTH or not token.isascii() or not signed.startswith(TOKEN_PREFIX):
        raise UnauthenticatedError(INVALID_TOKEN)
    expected = _sign(secret, signed)
    if not hmac.compare_digest(expected, _decode(signature)):
        raise UnauthenticatedError(INVALID_TOKEN)
    scope = _parse(_decode(signed[len(TOKEN_PREFIX) :]))
    if scope.expires_at <= (time.time() if now is None else now):
        raise UnauthenticatedError("token expired; ask for a new one")
    return scope


def _sign(secret: bytes, signed: str) -> bytes:
    return hmac.new(secret, signed.encode("ascii"), hashlib.sha256).digest()


def _field(text: str) -> bytes:
    data = text.encode("utf-8")
    return _LENGTH.pack(len(data)) + data


def _parse(payload: bytes) -> TokenScope:
    """The fields of a payload whose signature checked out (so written by `issue_token`)."""
    try:
        (expires_at,) = _EXPIRY.unpack_from(payload, 0)
        component, offset = _read_field(payload, _EXPIRY.size)
        instance_id, offset = _read_field(payload, offset)
    except (struct.error, UnicodeDecodeError) as exc:
        raise UnauthenticatedError(INVALID_TOKEN) from exc
    if offset != len(payload):
        raise UnauthenticatedError(INVALID_TOKEN)
    return TokenScope(component, instance_id, expires_at)


def _read_field(payload: bytes, offset: int) -> tuple[str, int]:
    (length,) = _LENGTH.unpack_from(payload, offset)
    start = offset + _LENGTH.size
    if start + length > len(payload):
        raise struct.error("field runs past the payload")
    return payload[start : start + length].decode("utf-8"), start + length


def _encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _decode(text: str) -> bytes:
    """base64url without padding; b"" for anything else (never equal to a signature)."""
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        return b""
