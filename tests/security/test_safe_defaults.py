"""Settings a server refuses to start with, each named in its message; --insecure starts with a warning."""

from __future__ import annotations

import pathlib

import pytest

from motion_grpc import MotionClient
from tests.helpers import ServerProcess, assert_eventually, unique
from tests.security.conftest import Pki
from tests.security.support import refused_start


@pytest.fixture
def keys(secrets_dir: pathlib.Path) -> str:
    return str(secrets_dir / "keys")


def _refused(args: list[str], *named: str) -> None:
    result = refused_start(args)
    assert result.returncode == 2, result.stderr
    assert "motion-grpc: " in result.stderr
    for text in named:
        assert text in result.stderr, result.stderr
    assert "serving" not in result.stdout


def test_an_open_plaintext_bind_without_authentication_is_refused(redis_url: str) -> None:
    _refused(["--host", "0.0.0.0", "--redis", redis_url], "--insecure", "TLS", "authentication")


def test_an_open_bind_with_keys_but_without_tls_is_refused(redis_url: str, keys: str) -> None:
    _refused(["--host", "0.0.0.0", "--api-key-file", keys, "--redis", redis_url], "--insecure", "TLS")


def test_an_open_bind_with_tls_but_without_authentication_is_refused(redis_url: str, pki: Pki) -> None:
    tls = ["--tls-cert", str(pki.server_cert), "--tls-key", str(pki.server_key)]
    _refused(["--host", "::", *tls, "--redis", redis_url], "--insecure", "authentication")


def test_allow_pickle_without_authenticated_callers_is_refused_even_on_loopback(
    redis_url: str, secrets_dir: pathlib.Path
) -> None:
    _refused(["--allow-pickle", "--redis", redis_url], "--allow-pickle", "--api-key-file")
    tokens_only = ["--token-secret-file", str(secrets_dir / "token-secret")]
    _refused(["--allow-pickle", *tokens_only, "--redis", redis_url], "--allow-pickle")
    _refused(["--allow-pickle", "--insecure", "--redis", redis_url], "--allow-pickle")


@pytest.mark.parametrize(
    ("content", "named"),
    [
        ("admin short\n", "line 1: key of 5 characters"),
        ("# keys\n\nroot 0123456789abcdef0123\n", "line 3: unknown role"),
        ("client sha256:abc\n", "line 1: sha256: must be followed by 64 hex digits"),
        ("admin 0123456789abcdef0123 extra\n", "line 1: expected 'ROLE KEY'"),
        ("admin 0123456789abcdef0123\nclient 0123456789abcdef0123\n", "line 2: the same key as line 1"),
        ("# nothing but comments\n", "holds no keys"),
    ],
)
def test_a_malformed_keys_file_refuses_to_start_naming_the_line(
    redis_url: str, tmp_path: pathlib.Path, content: str, named: str
) -> None:
    path = tmp_path / "keys"
    path.write_text(content, encoding="utf-8")
    _refused(["--api-key-file", str(path), "--redis", redis_url], str(path), named)


def test_unusable_security_files_are_named(redis_url: str, tmp_path: pathlib.Path, pki: Pki) -> None:
    missing = str(tmp_path / "missing.pem")
    short = tmp_path / "short-secret"
    short.write_text("too short\n")
    _refused(["--api-key-file", missing, "--redis", redis_url], "cannot read API key file", missing)
    _refused(["--token-secret-file", str(short), "--redis", redis_url], "at least 32")
    _refused(["--tls-cert", str(pki.server_cert), "--redis", redis_url], "--tls-cert and --tls-key")
    _refused(
        ["--tls-cert", missing, "--tls-key", str(pki.server_key), "--redis", redis_url], "--tls-cert", missing
    )
    _refused(["--tls-client-ca", str(pki.ca), "--redis", redis_url], "--tls-client-ca needs TLS")


def test_insecure_serves_an_open_address_with_a_warning(redis_url: str, tmp_path: pathlib.Path) -> None:
    log = tmp_path / "server.log"
    args = ["--host", "0.0.0.0", "--insecure"]
    with ServerProcess(redis_url=redis_url, args=args, log=log) as process:
        with MotionClient(process.target) as client:
            assert client.instance("Ledger", unique()).run("append", {"i": 1}) == 0
        assert_eventually(lambda: "WARNING" in log.read_text() and "(--insecure)" in log.read_text())
