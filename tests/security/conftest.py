"""Certificates, keys files and token secrets the security tests make for themselves (session scope)."""

from __future__ import annotations

import datetime
import hashlib
import ipaddress
import pathlib
from collections.abc import Iterator
from dataclasses import dataclass

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests.helpers import TEST_APP, ServerProcess
from tests.security.support import ADMIN_KEY, CLIENT_KEY, STREAM_APP, TOKEN_SECRET

_ONE_DAY = datetime.timedelta(days=1)


@dataclass(frozen=True)
class Pki:
    """PEM files: a CA, a server certificate it signed (localhost, 127.0.0.1), a client certificate
    it signed, and a client certificate from another CA."""

    ca: pathlib.Path
    server_cert: pathlib.Path
    server_key: pathlib.Path
    client_cert: pathlib.Path
    client_key: pathlib.Path
    stranger_cert: pathlib.Path
    stranger_key: pathlib.Path

    def channel_credentials(self, client: bool = False) -> grpc.ChannelCredentials:
        return grpc.ssl_channel_credentials(
            self.ca.read_bytes(),
            self.client_key.read_bytes() if client else None,
            self.client_cert.read_bytes() if client else None,
        )


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _certificate(
    subject: str, key: ec.EllipticCurvePrivateKey, issuer: tuple[str, ec.EllipticCurvePrivateKey] | None
) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.timezone.utc)
    issuer_name, _ = issuer or (subject, key)
    return (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _ONE_DAY)
        .not_valid_after(now + _ONE_DAY)
    )


def _make_ca(name: str) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    builder = _certificate(name, key, None).add_extension(
        x509.BasicConstraints(ca=True, path_length=None), critical=True
    )
    builder = builder.add_extension(
        x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
    )
    return builder.sign(key, hashes.SHA256()), key


def _make_leaf(
    name: str, ca: tuple[x509.Certificate, ec.EllipticCurvePrivateKey], server: bool
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    ca_cert, ca_key = ca
    key = ec.generate_private_key(ec.SECP256R1())
    issuer = ca_cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    builder = _certificate(name, key, (str(issuer), ca_key))
    usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
    builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    if server:
        names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return builder.sign(ca_key, hashes.SHA256()), key


def _write(
    directory: pathlib.Path, name: str, item: x509.Certificate | ec.EllipticCurvePrivateKey
) -> pathlib.Path:
    path = directory / name
    if isinstance(item, x509.Certificate):
        path.write_bytes(item.public_bytes(serialization.Encoding.PEM))
    else:
        path.write_bytes(
            item.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    return path


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    directory = tmp_path_factory.mktemp("pki")
    ca = _make_ca("motion-test-ca")
    server_cert, server_key = _make_leaf("localhost", ca, server=True)
    client_cert, client_key = _make_leaf("client", ca, server=False)
    stranger_cert, stranger_key = _make_leaf("stranger", _make_ca("another-ca"), server=False)
    return Pki(
        ca=_write(directory, "ca.pem", ca[0]),
        server_cert=_write(directory, "server.pem", server_cert),
        server_key=_write(directory, "server.key", server_key),
        client_cert=_write(directory, "client.pem", client_cert),
        client_key=_write(directory, "client.key", client_key),
        stranger_cert=_write(directory, "stranger.pem", stranger_cert),
        stranger_key=_write(directory, "stranger.key", stranger_key),
    )


@pytest.fixture(scope="session")
def secrets_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[pathlib.Path]:
    """An API keys file (one admin key in clear, one client key as a digest) and a token secret."""
    directory = tmp_path_factory.mktemp("secrets")
    client_digest = hashlib.sha256(CLIENT_KEY.encode()).hexdigest()
    (directory / "keys").write_text(
        f"# the test keys\n\nadmin {ADMIN_KEY}\nclient sha256:{client_digest}\n", encoding="utf-8"
    )
    (directory / "token-secret").write_bytes(TOKEN_SECRET + b"\n")
    yield directory


@pytest.fixture(scope="session")
def secured(redis_url: str, secrets_dir: pathlib.Path) -> Iterator[ServerProcess]:
    """A plaintext loopback server with API keys, a token secret and --allow-pickle."""
    args = [
        "--api-key-file", str(secrets_dir / "keys"),
        "--token-secret-file", str(secrets_dir / "token-secret"),
        "--allow-pickle",
    ]  # fmt: skip
    with ServerProcess(apps=[TEST_APP, STREAM_APP], redis_url=redis_url, args=args) as process:
        yield process
