"""TLS and mutual TLS for the server's port."""

from __future__ import annotations

import pathlib
import ssl
from dataclasses import dataclass

import grpc


class TlsFileError(ValueError):
    """A certificate, key or CA file the server cannot read."""


@dataclass(frozen=True)
class TlsFiles:
    """PEM files of the server's certificate chain and key; with `client_ca`, clients must present
    a certificate signed by it (mutual TLS)."""

    cert: str
    key: str
    client_ca: str | None = None

    @property
    def mutual(self) -> bool:
        return self.client_ca is not None

    def server_credentials(self) -> grpc.ServerCredentials:
        """The credentials for grpc's add_secure_port; TlsFileError naming a file that cannot be read."""
        chain = _read(self.cert, "--tls-cert")
        key = _read(self.key, "--tls-key")
        client_ca = _read(self.client_ca, "--tls-client-ca") if self.client_ca else None
        self._check_pair()
        return grpc.ssl_server_credentials(
            [(key, chain)], root_certificates=client_ca, require_client_auth=client_ca is not None
        )

    def _check_pair(self) -> None:
        """grpc reports a key that does not fit the certificate only as a port it cannot add."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        try:  # the password callback keeps OpenSSL from prompting on the terminal for an encrypted key
            context.load_cert_chain(self.cert, self.key, password=lambda: b"")
        except ssl.SSLError as exc:
            raise TlsFileError(
                f"--tls-key {self.key} is not the private key of --tls-cert {self.cert}, or is "
                f"encrypted (give an unencrypted PEM key): {exc.reason or exc}"
            ) from exc
        if self.client_ca:
            try:
                context.load_verify_locations(self.client_ca)
            except ssl.SSLError as exc:
                raise TlsFileError(
                    f"--tls-client-ca {self.client_ca} holds no CA certificate OpenSSL can read: "
                    f"{exc.reason or exc}"
                ) from exc


def _read(path: str, flag: str) -> bytes:
    try:
        data = pathlib.Path(path).read_bytes()
    except OSError as exc:
        raise TlsFileError(f"cannot read {flag} file {path}: {exc.strerror or exc}") from exc
    if b"-----BEGIN " not in data:
        raise TlsFileError(f"{flag} file {path} holds no PEM block (-----BEGIN ...)")
    return data
