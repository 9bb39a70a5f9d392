"""`motion-grpc token issue`, tokens in the Python clients, and the token format itself."""

from __future__ import annotations

import asyncio
import pathlib
import subprocess

import pytest

from motion_grpc import AsyncMotionClient, MotionClient
from motion_grpc.errors import PermissionDeniedError, UnauthenticatedError
from motion_grpc.server.tokens import INVALID_TOKEN, issue_token, verify_token
from tests.helpers import MOTION_GRPC, ServerProcess, clean_env, unique
from tests.security.support import CLIENT_KEY, TOKEN_SECRET, token_for


def _issue(*args: str) -> subprocess.CompletedProcess[str]:
    command = [MOTION_GRPC, "token", "issue", *args]
    return subprocess.run(command, env=clean_env(), capture_output=True, text=True, timeout=60, check=False)


def test_the_cli_prints_a_token_alone_on_its_last_line_that_the_server_takes(
    secured: ServerProcess, secrets_dir: pathlib.Path
) -> None:
    instance_id = unique()
    secret = str(secrets_dir / "token-secret")
    result = _issue("Ledger", instance_id, "--ttl", "300", "--secret-file", secret)
    assert result.returncode == 0, result.stderr
    token = result.stdout.splitlines()[-1]
    assert token == token.strip() and " " not in token
    scope = verify_token(TOKEN_SECRET, token)
    assert (scope.component, scope.instance_id) == ("Ledger", instance_id)
    with MotionClient(secured.target, token=token) as client:
        assert client.instance("Ledger", instance_id).run("append", {"i": 3}, flush_update=True) == 0
        with pytest.raises(PermissionDeniedError):
            client.instance("Ledger", unique()).run("append", {"i": 3})


def test_a_token_does_not_choose_how_its_instance_is_created(secured: ServerProcess) -> None:
    instance_id = unique()
    with MotionClient(secured.target, token=token_for("Ledger", instance_id)) as client:
        seeded = client.instance("Ledger", instance_id, init_state_params={"items": ["planted"]})
        with pytest.raises(PermissionDeniedError, match="init_state_params"):
            seeded.run("append", {"i": 1})
        plain = client.instance("Ledger", instance_id, init_state_params={})
        assert plain.run("append", {"i": 1}, flush_update=True) == 0


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["Ledger", "u", "--ttl", "0"], "--ttl"),
        (["Ledger", "bad\nid", "--ttl", "60"], "instance id"),
        (["", "u", "--ttl", "60"], "component"),
    ],
)
def test_the_cli_refuses_bad_arguments(secrets_dir: pathlib.Path, args: list[str], named: str) -> None:
    result = _issue(*args, "--secret-file", str(secrets_dir / "token-secret"))
    assert result.returncode == 2
    assert named in result.stderr
    assert result.stdout == ""


def test_the_cli_refuses_a_short_secret(tmp_path: pathlib.Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("short")
    result = _issue("Ledger", "u", "--ttl", "60", "--secret-file", str(secret))
    assert result.returncode == 2
    assert "at least 32" in result.stderr


def test_tokens_and_keys_with_the_blocking_client_streams_included(secured: ServerProcess) -> None:
    instance_id = unique()
    with MotionClient(secured.target, token=token_for("Tokens", instance_id)) as client:
        handle = client.instance("Tokens", instance_id)
        with handle.stream("tokens", {"n": 2}) as items:
            assert [item["i"] for item in items] == [0, 1]
        with handle.watch() as events:
            assert events is not None
        with (
            pytest.raises(PermissionDeniedError),
            client.instance("Tokens", unique()).stream("tokens") as items,
        ):
            list(items)
    with MotionClient(secured.target, api_key=CLIENT_KEY) as client:
        assert [c.name for c in client.describe()]
        with pytest.raises(PermissionDeniedError):
            client.instance("Tokens", instance_id).delete()


def test_tokens_with_the_asyncio_client_streams_included(secured: ServerProcess) -> None:
    instance_id = unique()

    async def main() -> None:
        async with AsyncMotionClient(secured.target, token=token_for("Tokens", instance_id)) as client:
            handle = client.instance("Tokens", instance_id)
            assert [item["i"] async for item in handle.stream("atokens", {"n": 2})] == [0, 1]
            assert await handle.version() >= 1
            with pytest.raises(PermissionDeniedError):
                await client.instance("Tokens", unique()).get_state()
        async with AsyncMotionClient(secured.target, api_key="not-a-key-0123456789") as client:
            with pytest.raises(UnauthenticatedError):
                await client.instance("Tokens", instance_id).get_state()

    asyncio.run(main())


def test_a_token_verifies_only_as_issued() -> None:
    token = issue_token(TOKEN_SECRET, "Ledger", "user-1", 60, now=1_000)
    assert verify_token(TOKEN_SECRET, token, now=1_030).instance_id == "user-1"
    with pytest.raises(UnauthenticatedError, match="expired"):
        verify_token(TOKEN_SECRET, token, now=1_060)
    signed, _, signature = token.rpartition(".")
    for forged in (
        issue_token(b"x" * 40, "Ledger", "user-1", 60, now=1_000),
        f"{signed}.{signature[:-1]}",
        f"{signed}x.{signature}",
        token.replace("mgt1.", "mgt2.", 1),
        f"{signed}.{signature}.",
        "mgt1.ü.x",
    ):
        with pytest.raises(UnauthenticatedError) as info:
            verify_token(TOKEN_SECRET, forged, now=1_030)
        assert info.value.message == INVALID_TOKEN
