"""The server's security settings, and the safe defaults checked before it listens.

Anyone who reaches an open port can read and overwrite every instance, and
with pickle allowed, run code on the server. So a server refuses to start
when it would be reachable from other machines without both TLS and
authentication (unless told `--insecure`, for a mesh whose sidecars do
mTLS), and refuses `--allow-pickle` without authentication of its callers
(API keys or client certificates) on any address.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from motion_grpc.server.auth import AuthFiles
from motion_grpc.server.tls import TlsFiles


class UnsafeExposureError(ValueError):
    """The settings would let unauthenticated callers in where they must not be; nothing started."""


@dataclass(frozen=True)
class SecurityOptions:
    """TLS, credentials, and the explicit opt-out of the safe defaults."""

    tls: TlsFiles | None = None
    auth: AuthFiles = field(default_factory=AuthFiles)
    #: Serve a non-loopback address without TLS or authentication (traffic protected by a mesh).
    insecure: bool = False

    @property
    def authenticates(self) -> bool:
        """Whether callers prove who they are: API keys, tokens or client certificates."""
        return self.auth.configured or (self.tls is not None and self.tls.mutual)

    def check(self, address: str, allow_pickle: bool) -> str | None:
        """UnsafeExposureError for a refused combination; the warning to log, if any."""
        trusted_callers = bool(self.auth.api_key_file) or (self.tls is not None and self.tls.mutual)
        if allow_pickle and not trusted_callers:
            raise UnsafeExposureError(
                "--allow-pickle lets callers run code on the server: it needs authenticated callers "
                "(--api-key-file, or --tls-client-ca for client certificates)"
            )
        if is_local(address) or (self.tls is not None and self.authenticates):
            return None
        missing = self._missing()
        if not self.insecure:
            raise UnsafeExposureError(
                f"refusing to serve {address} without {missing}: other machines could reach it; "
                "configure them, listen on 127.0.0.1, or pass --insecure if a mesh already "
                "encrypts and authenticates the traffic"
            )
        return f"serving {address} without {missing} (--insecure): anyone who reaches it can call every RPC"

    def _missing(self) -> str:
        missing = []
        if self.tls is None:
            missing.append("TLS (--tls-cert, --tls-key)")
        if not self.authenticates:
            missing.append("authentication (--api-key-file, --token-secret-file or --tls-client-ca)")
        return " and ".join(missing)


def is_local(address: str) -> bool:
    """Whether `address` ("host:port", "[v6]:port" or "unix:path") is reachable from this machine only."""
    if address.startswith(("unix:", "unix-abstract:")):
        return True
    host = address.rpartition(":")[0].strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a name (resolved by grpc, perhaps to many addresses) or a wildcard
