"""Credentials the security tests use, and starting servers that speak TLS or refuse to start."""

from __future__ import annotations

import pathlib
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from motion_grpc.server.tokens import issue_token
from tests.helpers import MOTION_GRPC, ROOT, TEST_APP, ServerProcess, assert_eventually, clean_env

ADMIN_KEY = "admin-key-0123456789abcdef"
CLIENT_KEY = "client-key-0123456789abcdef"
WRONG_KEY = "wrong-key-0123456789abcdef"
TOKEN_SECRET = b"token-secret-0123456789abcdef-0123456789"
STREAM_APP = str(ROOT / "tests" / "apps" / "streamapp.py")


def token_for(component: str, instance_id: str, ttl: float = 300.0) -> str:
    return issue_token(TOKEN_SECRET, component, instance_id, ttl)


def expired_token(component: str, instance_id: str) -> str:
    return issue_token(TOKEN_SECRET, component, instance_id, ttl=1.0, now=time.time() - 60)


def bearer(credential: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {credential}"),)


def health_status(channel: grpc.Channel) -> int:
    """The overall health status, asked without credentials."""
    reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
    return int(reply.status)


@contextmanager
def secure_server(process: ServerProcess, credentials: grpc.ChannelCredentials) -> Iterator[ServerProcess]:
    """Run `process` (a TLS server), ready once a channel with `credentials` gets an answer."""

    def answers() -> bool:
        assert process.process is not None and process.process.poll() is None, "server exited"
        with grpc.secure_channel(process.target, credentials) as channel:
            try:
                return health_status(channel) == health_pb2.HealthCheckResponse.SERVING
            except grpc.RpcError as exc:
                raise AssertionError(str(exc)) from exc

    process.launch()  # not `with process`: its start() waits for a plaintext channel
    try:
        assert_eventually(answers, timeout=30, interval=0.1)
        yield process
    finally:
        process.__exit__(None, None, None)


def refused_start(args: Sequence[str], cwd: pathlib.Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run `motion-grpc serve` with `args`, expecting it to exit by itself (it refuses to start)."""
    command = [MOTION_GRPC, "serve", TEST_APP, "--port", "0", *args]
    return subprocess.run(
        command, env=clean_env(), cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )
