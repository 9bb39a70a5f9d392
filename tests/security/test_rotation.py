"""SIGHUP re-reads the keys file: new keys in, old keys out; a bad new file keeps the old keys."""

from __future__ import annotations

import pathlib
import signal

import grpc

from motion_grpc._proto.motion.v1 import motion_pb2 as pb
from motion_grpc._proto.motion.v1 import motion_pb2_grpc
from tests.helpers import ServerProcess, assert_eventually
from tests.security.support import bearer

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
