"""What a process trusts in the values it reads back from Redis.

Anyone who can write to Redis can put bytes where a replica will read them
(a state field, a queue entry, a cache entry). Loading a pickle runs the code
it names, so a pickle is loaded in full only when it carries an HMAC-SHA256
from the state secret the replicas share (`--state-secret-file`,
MOTION_STATE_SECRET_FILE), or when this process was told to trust unsigned
pickles (Motion's own behaviour, the in-process default without a secret).
Otherwise a pickle is loaded by an unpickler that resolves no names but a few
plain value types: tuples, sets, bytes and the like load, anything that would
import or call code is refused, and so is one that would take unbounded work
to load (see plain_pickle).

The policy is process-wide (the codec is called from everywhere) and comes
from the environment, so update worker processes spawned by a server or an
in-process instance inherit it:

    MOTION_STATE_SECRET_FILE   one secret a line: the first signs, every one verifies
    MOTION_UNSIGNED_PICKLES    "load" (trust them) or "refuse"; default "refuse"
                               with a secret or in a server, "load" otherwise
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import os
import pickle
import threading
from dataclasses import dataclass
from typing import Any

from motion_grpc import plain_pickle
from motion_grpc.errors import UntrustedDataError
from motion_grpc.logs import shorten

SECRET_FILE_ENV = "MOTION_STATE_SECRET_FILE"
UNSIGNED_ENV = "MOTION_UNSIGNED_PICKLES"
LOAD, REFUSE = "load", "refuse"

#: First byte of a signed pickle: b"\x01" + HMAC-SHA256 (32 bytes) + the pickle.
SIGNED_TAG = b"\x01"
MAC_SIZE = 32
#: Shortest secret accepted: 32 bytes, the HMAC-SHA256 key size.
MIN_SECRET_BYTES = 32

_HOW_TO_SIGN = f"give every replica the same --state-secret-file ({SECRET_FILE_ENV})"


@dataclass(frozen=True)
class Trust:
    """Secrets (the first signs, each verifies) and whether unsigned pickles are loaded in full."""

    secrets: tuple[bytes, ...] = ()
    load_unsigned: bool = False

    def sign(self, data: bytes) -> bytes:
        """`data` (a pickle) as a signed value; unchanged when there is no secret."""
        if not self.secrets:
            return data
        return SIGNED_TAG + _mac(self.secrets[0], data) + data

    def load_signed(self, value: bytes) -> Any:
        """Unpickle a signed value after checking its HMAC in constant time."""
        mac, data = value[1 : 1 + MAC_SIZE], value[1 + MAC_SIZE :]
        if not self.secrets:
            raise UntrustedDataError(f"a signed pickle, and this process has no state secret: {_HOW_TO_SIGN}")
        if not any(hmac.compare_digest(mac, _mac(secret, data)) for secret in self.secrets):
            raise UntrustedDataError(
                "a pickle whose signature does not match this process's state secret; refused "
                "(written with another secret, or not by a replica)"
            )
        return pickle.loads(data)

    def load_unsigned_pickle(self, data: bytes) -> Any:
        """An unsigned pickle: in full when trusted, else only if it names no code."""
        if self.load_unsigned:
            return pickle.loads(data)
        return restricted_loads(data)


def _mac(secret: bytes, data: bytes) -> bytes:
    return hmac.new(secret, data, hashlib.sha256).digest()


def restricted_loads(data: bytes, scan: bool = True) -> Any:
    """Unpickle plain values only (see plain_pickle); UntrustedDataError saying what to do for
    anything that names code, or would take unbounded work to load."""
    try:
        return plain_pickle.loads(data, scan)
    except UntrustedDataError as refused:
        if not refused.named:
            raise
        explained = UntrustedDataError(
            f"{refused.message}. Python objects are read back only when signed: {_HOW_TO_SIGN}; data "
            f"written before the upgrade loads with --trust-unsigned-pickles ({UNSIGNED_ENV}=load)"
        )
        explained.named = refused.named
        raise explained from None


def check_unsigned(data: bytes) -> None:
    """UntrustedDataError saying what to do unless `data`, a pickle this process made, would be
    read back unsigned: it names no code and loads with bounded work (see plain_pickle)."""
    try:
        plain_pickle.loads(data, scan=False)  # made here of a live value: no bomb to look for
    except UntrustedDataError as refused:
        if refused.named:
            raise must_sign_error(refused.named) from None
        raise UntrustedDataError(
            f"{refused.message}: such a value is read back only when signed: {_HOW_TO_SIGN}"
        ) from None


def must_sign_error(named: str) -> UntrustedDataError:
    """The error for a value that only a signed pickle can store, in a process without a secret."""
    return UntrustedDataError(
        f"a value naming {shorten(named, 80)} can be stored only as a pickle that names code, which "
        f"replicas load only when signed: {_HOW_TO_SIGN}; or store JSON-like values"
    )


def read_secrets(path: str) -> tuple[bytes, ...]:
    """The secrets of a secret file, one a line; ValueError saying what to fix."""
    try:
        with open(path, "rb") as file:
            lines = file.read().splitlines()
    except OSError as exc:
        raise ValueError(f"cannot read the state secret file {path}: {exc.strerror}") from exc
    secrets = tuple(line.strip() for line in lines if line.strip())
    if not secrets:
        raise ValueError(f"the state secret file {path} is empty; write one secret a line")
    short = [n for n, secret in enumerate(secrets, 1) if len(secret) < MIN_SECRET_BYTES]
    if short:
        raise ValueError(
            f"the state secret on line {short[0]} of {path} is shorter than {MIN_SECRET_BYTES} bytes; "
            "make one with: head -c 48 /dev/urandom | base64"
        )
    return secrets


def trust_from_env(env: dict[str, str] | None = None, server: bool = False) -> Trust:
    """The policy the environment asks for (see the module docstring)."""
    env = dict(os.environ) if env is None else env
    path = env.get(SECRET_FILE_ENV, "")
    secrets = read_secrets(path) if path else ()
    mode = env.get(UNSIGNED_ENV, "").strip().lower()
    if mode not in ("", LOAD, REFUSE):
        raise ValueError(f"{UNSIGNED_ENV} must be {LOAD!r} or {REFUSE!r}, not {shorten(repr(mode), 40)}")
    if not mode:
        mode = REFUSE if secrets or server else LOAD
    return Trust(secrets, load_unsigned=mode == LOAD)


def add_trust_options(serve: argparse.ArgumentParser) -> None:
    """The flags of `motion-grpc serve` that set what it trusts in Redis."""
    serve.add_argument(
        "--state-secret-file",
        default=None,
        metavar="FILE",
        help="secret shared by every replica (one a line: the first signs, all verify); values that "
        f"need pickle are stored signed and read only when signed (default {SECRET_FILE_ENV})",
    )
    serve.add_argument(
        "--trust-unsigned-pickles",
        action="store_true",
        help="load unsigned pickles read from Redis (older releases' data): anyone who can write to "
        f"Redis can then run code here; for an upgrade only (default {UNSIGNED_ENV}, else refuse)",
    )


def configure_process(secret_file: str | None, load_unsigned: bool, server: bool) -> Trust:
    """Apply flags over the environment, for this process and the workers it spawns (ValueError
    naming what to fix when the secret file is unusable)."""
    if secret_file:
        os.environ[SECRET_FILE_ENV] = secret_file
    if load_unsigned:
        os.environ[UNSIGNED_ENV] = LOAD
    policy = trust_from_env(server=server)
    os.environ[UNSIGNED_ENV] = LOAD if policy.load_unsigned else REFUSE
    configure(policy)
    return policy


_lock = threading.Lock()
_current: Trust | None = None


def current() -> Trust:
    """This process's policy, read from the environment on first use."""
    global _current
    if _current is None:
        with _lock:
            if _current is None:
                _current = trust_from_env()
    return _current


def configure(trust: Trust | None) -> None:
    """Set this process's policy (None: read the environment again on next use)."""
    global _current
    with _lock:
        _current = trust


__all__ = [
    "LOAD",
    "REFUSE",
    "SECRET_FILE_ENV",
    "SIGNED_TAG",
    "UNSIGNED_ENV",
    "Trust",
    "add_trust_options",
    "check_unsigned",
    "configure",
    "configure_process",
    "current",
    "must_sign_error",
    "read_secrets",
    "restricted_loads",
    "trust_from_env",
]
