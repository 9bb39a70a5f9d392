"""TLS and mutual TLS with the Python clients; mismatched clients fail cleanly and the server stays up."""

from __future__ import annotations

import asyncio
import pathlib
import subprocess
from collections.abc import Iterator

import grpc
import pytest

from motion_grpc import AsyncMotionClient, MotionClient
from motion_grpc.errors import MotionError, UnavailableError
from tests.helpers import TEST_APP, ServerProcess, clean_env, unique
from tests.security.conftest import Pki
from tests.security.support import ADMIN_KEY, STREAM_APP, secure_server

#: Short deadlines: a handshake that cannot succeed fails at once, the deadline only bounds a bug.
FAILING_CALL_TIMEOUT = 5.0


@pytest.fixture(scope="module")
def tls_server(redis_url: str, pki: Pki) -> Iterator[ServerProcess]:
    args = ["--tls-cert", str(pki.server_cert), "--tls-key", str(pki.server_key)]
    process = ServerProcess(apps=[TEST_APP, STREAM_APP], redis_url=redis_url, args=args)
    with secure_server(process, pki.channel_credentials()):
        yield process


@pytest.fixture(scope="module")
def mtls_server(redis_url: str, pki: Pki, secrets_dir: pathlib.Path) -> Iterator[ServerProcess]:
    """Mutual TLS and API keys on every interface: the safe defaults let it start without --insecure."""
    args = [
        "--tls-cert", str(pki.server_cert), "--tls-key", str(pki.server_key),
        "--tls-client-ca", str(pki.ca), "--api-key-file", str(secrets_dir / "keys"),
        "--host", "0.0.0.0",
    ]  # fmt: skip
    process = ServerProcess(apps=[TEST_APP, STREAM_APP], redis_url=redis_url, args=args)
    with secure_server(process, pki.channel_credentials(client=True)):
        yield process


def _certified_client(server: ServerProcess, pki: Pki) -> MotionClient:
    """A blocking client with the test CA's client certificate and the admin key."""
    return MotionClient(
        server.target,
        root_certificates=pki.ca,
        client_cert=pki.client_cert,
        client_key=pki.client_key,
        api_key=ADMIN_KEY,
    )


def _round_trip(client: MotionClient) -> None:
    ledger = client.instance("Ledger", unique())
    assert ledger.run("append", {"i": 7}, flush_update=True) == 0
    assert ledger.get_state() == {"items": [7]}
    with client.instance("Tokens", unique()).stream("tokens", {"n": 2}) as items:
        assert [item["i"] for item in items] == [0, 1]


async def _async_round_trip(client: AsyncMotionClient) -> None:
    ledger = client.instance("Ledger", unique())
    assert await ledger.run("append", {"i": 8}, flush_update=True) == 0
    assert await ledger.get_state() == {"items": [8]}
    items = [item async for item in client.instance("Tokens", unique()).stream("atokens", {"n": 2})]
    assert [item["i"] for item in items] == [0, 1]


def test_tls_with_the_blocking_client(tls_server: ServerProcess, pki: Pki) -> None:
    with MotionClient(tls_server.target, root_certificates=pki.ca) as client:
        _round_trip(client)


def test_tls_with_the_asyncio_client(tls_server: ServerProcess, pki: Pki) -> None:
    async def main() -> None:
        async with AsyncMotionClient(tls_server.target, root_certificates=pki.ca.read_bytes()) as client:
            await _async_round_trip(client)

    asyncio.run(main())


def test_a_plaintext_client_fails_cleanly_and_the_tls_server_stays_up(
    tls_server: ServerProcess, pki: Pki
) -> None:
    with MotionClient(tls_server.target) as plain, pytest.raises(UnavailableError):
        plain.instance("Ledger", unique()).run("append", {"i": 1}, timeout=FAILING_CALL_TIMEOUT)
    with MotionClient(tls_server.target, root_certificates=pki.ca) as client:
        _round_trip(client)


def test_a_tls_client_fails_cleanly_against_a_plaintext_server(server: ServerProcess, pki: Pki) -> None:
    with MotionClient(server.target, root_certificates=pki.ca) as tls, pytest.raises(UnavailableError):
        tls.instance("Ledger", unique()).run("append", {"i": 1}, timeout=FAILING_CALL_TIMEOUT)
    with MotionClient(server.target) as client:
        assert client.instance("Ledger", unique()).run("append", {"i": 1}) == 0


def test_a_client_that_trusts_another_ca_refuses_the_server(tls_server: ServerProcess, pki: Pki) -> None:
    with (
        MotionClient(tls_server.target, root_certificates=pki.stranger_cert) as client,
        pytest.raises(UnavailableError),
    ):
        client.instance("Ledger", unique()).run("append", {"i": 1}, timeout=FAILING_CALL_TIMEOUT)


def test_mutual_tls_with_the_blocking_client(mtls_server: ServerProcess, pki: Pki) -> None:
    with _certified_client(mtls_server, pki) as client:
        _round_trip(client)


def test_mutual_tls_with_the_asyncio_client(mtls_server: ServerProcess, pki: Pki) -> None:
    async def main() -> None:
        async with AsyncMotionClient(
            mtls_server.target,
            root_certificates=pki.ca,
            client_cert=pki.client_cert.read_bytes(),
            client_key=str(pki.client_key),
            api_key=ADMIN_KEY,
        ) as client:
            await _async_round_trip(client)

    asyncio.run(main())


@pytest.mark.parametrize("certificate", ["none", "another CA's"])
def test_mutual_tls_refuses_clients_without_a_certificate_of_its_ca(
    mtls_server: ServerProcess, pki: Pki, certificate: str
) -> None:
    own = {"client_cert": pki.stranger_cert, "client_key": pki.stranger_key} if certificate != "none" else {}
    with MotionClient(mtls_server.target, root_certificates=pki.ca, api_key=ADMIN_KEY, **own) as client:
        with pytest.raises(MotionError) as info:
            client.instance("Ledger", unique()).run("append", {"i": 1}, timeout=FAILING_CALL_TIMEOUT)
        assert info.value.code == grpc.StatusCode.UNAVAILABLE
    with _certified_client(mtls_server, pki) as client:
        _round_trip(client)


def test_mutual_tls_still_asks_for_an_api_key(mtls_server: ServerProcess, pki: Pki) -> None:
    with MotionClient(
        mtls_server.target, root_certificates=pki.ca, client_cert=pki.client_cert, client_key=pki.client_key
    ) as client:
        with pytest.raises(MotionError) as info:
            client.instance("Ledger", unique()).get_state()
        assert info.value.code == grpc.StatusCode.UNAUTHENTICATED


def test_tls_options_that_do_not_go_together_are_refused(pki: Pki) -> None:
    with pytest.raises(ValueError, match="client_key"):
        MotionClient("127.0.0.1:1", root_certificates=pki.ca, client_cert=pki.client_cert)
    with pytest.raises(ValueError, match="credentials="):
        MotionClient("127.0.0.1:1", credentials=grpc.ssl_channel_credentials(), tls=True)
    with pytest.raises(ValueError, match="not both"):
        MotionClient("127.0.0.1:1", api_key=ADMIN_KEY, token="mgt1.x.y")


def test_a_key_that_is_not_the_certificates_is_refused_before_serving(redis_url: str, pki: Pki) -> None:
    server = ServerProcess(
        redis_url=redis_url, args=["--tls-cert", str(pki.server_cert), "--tls-key", str(pki.client_key)]
    )
    done = subprocess.run(
        server.command, check=False, env=clean_env(), capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert f"--tls-key {pki.client_key} is not the private key of --tls-cert {pki.server_cert}" in done.stderr
    assert "Traceback" not in done.stderr and "cannot listen" not in done.stderr
