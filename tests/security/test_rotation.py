"""SIGHUP re-reads the keys file: new keys in, old keys out; a bad new file keeps the old keys.
Open streams do not outlive their credential: a reload that drops it, or a token's expiry, ends them."""

from __future__ import annotations

import pathlib
import signal
from collections.abc import Iterator

import grpc
import pytest

from motion_grpc._proto.motion.v1 import motion_pb2 as pb
from motion_grpc._proto.motion.v1 import motion_pb2_grpc
from tests.helpers import ServerProcess, assert_eventually, unique
from tests.security.support import STREAM_APP, TOKEN_SECRET, bearer, token_for

OLD_KEY = "rotation-old-key-0123456789"
NEW_KEY = "rotation-new-key-0123456789"


def _code(target: str, key: str) -> grpc.StatusCode:
    with grpc.insecure_channel(target) as channel:
        stub = motion_pb2_grpc.MotionServiceStub(channel)
        try:
            stub.DescribeComponents(pb.DescribeComponentsRequest(), metadata=bearer(key), timeout=10)
        except grpc.RpcError as exc:
            return exc.code()  # type: ignore[no-any-return]
    return grpc.StatusCode.OK


def test_sighup_rotates_keys_and_a_bad_file_keeps_the_current_ones(
    redis_url: str, tmp_path: pathlib.Path
) -> None:
    keys = tmp_path / "keys"
    keys.write_text(f"admin {OLD_KEY}\n")
    log = tmp_path / "server.log"
    with ServerProcess(redis_url=redis_url, args=["--api-key-file", str(keys)], log=log) as server:
        assert server.process is not None
        assert _code(server.target, OLD_KEY) == grpc.StatusCode.OK
        assert _code(server.target, NEW_KEY) == grpc.StatusCode.UNAUTHENTICATED

        keys.write_text(f"client {NEW_KEY}\n")
        server.process.send_signal(signal.SIGHUP)
        assert_eventually(lambda: _code(server.target, OLD_KEY) == grpc.StatusCode.UNAUTHENTICATED)
        assert _code(server.target, NEW_KEY) == grpc.StatusCode.OK

        keys.write_text("client short\n")
        server.process.send_signal(signal.SIGHUP)
        assert_eventually(lambda: "credentials not reloaded" in log.read_text())
        assert "line 1" in log.read_text()
        assert _code(server.target, NEW_KEY) == grpc.StatusCode.OK
        assert server.process.poll() is None


def _watch(channel: grpc.Channel, credential: str, instance_id: str) -> Iterator[pb.WatchUpdatesResponse]:
    stub = motion_pb2_grpc.MotionServiceStub(channel)
    ref = pb.InstanceRef(component="Tokens", instance_id=instance_id)
    request = pb.WatchUpdatesRequest(instance=ref, create_if_missing=True)
    return stub.WatchUpdates(request, metadata=bearer(credential), timeout=60)  # type: ignore[no-any-return]


def _ended_with(stream: Iterator[pb.WatchUpdatesResponse]) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as ended:
        for _ in stream:
            pass
    return ended.value


def test_open_streams_end_when_their_credential_is_revoked_or_expires(
    redis_url: str, tmp_path: pathlib.Path
) -> None:
    keys = tmp_path / "keys"
    keys.write_text(f"client {OLD_KEY}\nclient {NEW_KEY}\n")
    secret = tmp_path / "token-secret"
    secret.write_bytes(TOKEN_SECRET + b"\n")
    args = ["--api-key-file", str(keys), "--token-secret-file", str(secret), "--watch-heartbeat", "0.2"]
    with (
        ServerProcess(apps=[STREAM_APP], redis_url=redis_url, args=args) as server,
        grpc.insecure_channel(server.target) as channel,
    ):
        assert server.process is not None
        instance_id = unique()
        token = _watch(channel, token_for("Tokens", instance_id, ttl=2.0), instance_id)
        revoked, kept = _watch(channel, OLD_KEY, instance_id), _watch(channel, NEW_KEY, instance_id)
        for stream in (token, revoked, kept):
            assert next(stream).HasField("progress")  # open, and heartbeating

        ended = _ended_with(token)  # its heartbeats went on until the token expired
        assert ended.code() == grpc.StatusCode.UNAUTHENTICATED
        assert "expired while the stream was open" in (ended.details() or "")

        keys.write_text(f"client {NEW_KEY}\n")
        server.process.send_signal(signal.SIGHUP)
        assert _ended_with(revoked).code() == grpc.StatusCode.UNAUTHENTICATED
        for _ in range(3):  # the key still in the file keeps its stream
            assert next(kept).HasField("progress")
        kept.cancel()  # type: ignore[attr-defined]
