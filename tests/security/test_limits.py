"""Limits of one server: props size, message size, open streams per peer, stream duration,
private embedded Redis files; each with the server alive and other callers unaffected."""

from __future__ import annotations

import pathlib
import stat
from collections.abc import Iterator

import grpc
import pytest

from motion_grpc import MotionClient
from motion_grpc._proto.motion.v1 import motion_pb2 as pb
from motion_grpc._proto.motion.v1 import motion_pb2_grpc
from motion_grpc.errors import DeadlineExceededError, InvalidArgumentError
from motion_grpc.store import RedisServer
from tests.helpers import ROOT, TEST_APP, ServerProcess, assert_eventually, unique

STREAM_APP = str(ROOT / "tests" / "apps" / "streamapp.py")
LIMITS = ["--max-props-bytes", "2000", "--max-message-bytes", "65536", "--max-streams-per-peer", "2",
          "--max-watches-per-peer", "2", "--max-stream-seconds", "1"]  # fmt: skip


@pytest.fixture(scope="module")
def limited(redis_url: str) -> Iterator[ServerProcess]:
    with ServerProcess(apps=[TEST_APP, STREAM_APP], redis_url=redis_url, args=LIMITS) as process:
        yield process


@pytest.fixture(scope="module")
def client(limited: ServerProcess) -> Iterator[MotionClient]:
    with MotionClient(limited.target) as motion_client:
        yield motion_client


def _still_serves(client: MotionClient) -> None:
    assert client.instance("Ledger", unique()).run("append", {"i": 1}, flush_update=True) == 0


def test_props_over_the_limit_name_the_flag(client: MotionClient) -> None:
    with pytest.raises(InvalidArgumentError, match="--max-props-bytes") as refused:
        client.instance("Ledger", unique()).run("append", {"i": "x" * 3000})
    assert refused.value.reason == "INVALID_PROPS"
    with (
        pytest.raises(InvalidArgumentError, match="--max-props-bytes"),
        client.instance("Tokens", unique()).stream("tokens", {"pad": "x" * 3000}) as items,
    ):
        list(items)
    _still_serves(client)


def test_a_message_over_the_limit_is_refused(limited: ServerProcess, client: MotionClient) -> None:
    with grpc.insecure_channel(limited.target) as channel:
        stub = motion_pb2_grpc.MotionServiceStub(channel)
        request = pb.WriteStateRequest(instance=pb.InstanceRef(component="Ledger", instance_id=unique()))
        request.patch.update({"items": "x" * 100_000})
        with pytest.raises(grpc.RpcError) as info:
            stub.WriteState(request, timeout=10)
    assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    _still_serves(client)


def _open_calls(stub: motion_pb2_grpc.MotionServiceStub, method: str, count: int) -> list[grpc.Future]:
    calls = []
    for _ in range(count):
        ref = pb.InstanceRef(component="Tokens", instance_id=unique())
        if method == "watch":
            call = stub.WatchUpdates(pb.WatchUpdatesRequest(instance=ref, create_if_missing=True), timeout=20)
        else:
            request = pb.RunRequest(instance=ref, flow="atokens")
            request.props.update({"n": 1000, "delay": 0.2})
            call = stub.RunStream(request, timeout=20)
        next(call)  # open: its first message arrived
        calls.append(call)
    return calls


@pytest.mark.parametrize(
    ("method", "flag"), [("watch", "--max-watches-per-peer"), ("stream", "--max-streams-per-peer")]
)
def test_open_streams_per_peer_are_capped(
    limited: ServerProcess, client: MotionClient, method: str, flag: str
) -> None:
    with grpc.insecure_channel(limited.target) as channel:
        stub = motion_pb2_grpc.MotionServiceStub(channel)
        calls = _open_calls(stub, method, 2)
        with pytest.raises(grpc.RpcError) as info:
            _open_calls(stub, method, 1)
        assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert flag in (info.value.details() or "")
        _still_serves(client)
        calls[0].cancel()
        assert_eventually(lambda: _open_calls(stub, method, 1), retry_on=(grpc.RpcError,))  # a slot came back
        for call in calls:
            call.cancel()


def test_a_stream_past_its_duration_ends_naming_the_flag(
    client: MotionClient, tmp_path: pathlib.Path
) -> None:
    marker = tmp_path / "closed"
    props = {"n": 1000, "delay": 0.2, "marker": str(marker)}
    with (
        pytest.raises(DeadlineExceededError, match="--max-stream-seconds"),
        client.instance("Tokens", unique()).stream("atokens", props) as items,
    ):
        list(items)
    assert_eventually(marker.exists)  # the generator was closed: its finally ran
    _still_serves(client)


def test_embedded_redis_files_are_private(tmp_path: pathlib.Path) -> None:
    data_dir = tmp_path / "data"
    with RedisServer(data_dir, appendonly=True) as server:
        assert server.port
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    files = [path for path in data_dir.rglob("*") if path.is_file()]
    assert files
    assert all(stat.S_IMODE(path.stat().st_mode) & 0o077 == 0 for path in files)
