"""Hostile input over gRPC: garbage bytes, deep nesting, NaN, invisible characters, huge names.

Each gets its proper status with a short message saying what to fix, the
server logs at most a rate-limited line for it, and no state or queue changes.
"""

from __future__ import annotations

import asyncio
import logging
import math
import pathlib
import uuid
from collections.abc import Iterator

import grpc
import pytest
from google.protobuf import struct_pb2
from grpc import aio

from motion_grpc import MotionClient, codec
from motion_grpc._proto.motion.v1 import motion_pb2 as pb
from motion_grpc.errors import (
    FailedPreconditionError,
    InvalidArgumentError,
    NotFoundError,
    OpError,
    ResourceExhaustedError,
)
from motion_grpc.server.interceptors import ErrorMappingInterceptor
from tests.helpers import ROOT, TEST_APP, ServerProcess, unique
from tests.integration.conftest import events_of

HOSTILE_APP = str(pathlib.Path(ROOT) / "tests" / "apps" / "hostileapp.py")
SERVICE = "/motion.v1.MotionService/"
UNARY_METHODS = ["Run", "GetState", "FlushUpdates", "WriteState", "DescribeComponents", "ListInstances"]
STREAM_METHODS = ["RunStream", "WatchUpdates"]
#: What a client may be answered at most: grpc's default limit on received metadata is 8 KB.
SHORT = 1_000


@pytest.fixture(scope="module")
def hostile_server(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    log = tmp_path_factory.mktemp("hostile") / "server.log"
    apps = [TEST_APP, HOSTILE_APP]
    with ServerProcess(apps=apps, redis_url=redis_url, args=["--update-workers", "2"], log=log) as process:
        yield process


@pytest.fixture(scope="module")
def hostile(hostile_server: ServerProcess) -> Iterator[MotionClient]:
    with MotionClient(hostile_server.target) as client:
        client.wait_ready()
        yield client


@pytest.fixture(scope="module")
def channel(hostile_server: ServerProcess) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(hostile_server.target) as raw_channel:
        yield raw_channel


def _raw_call(channel: grpc.Channel, method: str, data: bytes) -> grpc.RpcError:
    """Send `data` as the request bytes of `method`; the error it answers with."""
    with pytest.raises(grpc.RpcError) as info:
        if method in STREAM_METHODS:
            list(channel.unary_stream(SERVICE + method)(data, timeout=10))
        else:
            channel.unary_unary(SERVICE + method)(data, timeout=10)
    return info.value  # type: ignore[return-value]


def _events(redis_url: str, ref: pb.InstanceRef) -> list[object]:
    """Every update event of an instance: what was enqueued, applied or failed."""
    return list(events_of(redis_url, ref.component, ref.instance_id))


def _assert_invalid(error: grpc.RpcError, *fragments: str) -> None:
    details = error.details() or ""
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, (error.code(), details)
    for fragment in fragments:
        assert fragment in details
    assert len(details) < SHORT and "Traceback" not in details


# -- item 8: request bytes that do not parse ------------------------------------------


@pytest.mark.parametrize("method", UNARY_METHODS + STREAM_METHODS)
def test_garbage_bytes_answer_invalid_argument_for_every_method(channel: grpc.Channel, method: str) -> None:
    error = _raw_call(channel, method, b"\xff\xff\xff garbage")
    _assert_invalid(error, f"malformed MotionService.{method} request", "Wire format was corrupt")


def test_invalid_utf8_in_a_string_field(channel: grpc.Channel) -> None:
    flow_field_with_bad_utf8 = b"\x12\x02\xff\xfe"  # RunRequest.flow = bytes that are not UTF-8
    error = _raw_call(channel, "Run", flow_field_with_bad_utf8)
    _assert_invalid(error, "malformed MotionService.Run request", "bad UTF-8")


def _nested_props(depth: int) -> pb.RunRequest:
    value = struct_pb2.Value(number_value=1)
    for _ in range(depth):
        outer = struct_pb2.Value()
        outer.list_value.values.add().CopyFrom(value)
        value = outer
    request = pb.RunRequest(instance=pb.InstanceRef(component="Ledger", instance_id=unique()), flow="append")
    request.props.fields["i"].CopyFrom(value)
    return request


@pytest.mark.parametrize("depth", [100, 1000, 10_000])
def test_props_nested_past_the_parser_limit(channel: grpc.Channel, depth: int) -> None:
    error = _raw_call(channel, "Run", _nested_props(depth).SerializeToString())
    _assert_invalid(error, "malformed MotionService.Run request", "nested too deep")


def test_props_nested_past_our_limit_name_the_path(hostile: MotionClient, redis_url: str) -> None:
    request = _nested_props(codec.MAX_DEPTH + 2)
    with pytest.raises(grpc.RpcError) as info:
        hostile.stub.Run(request, timeout=10)
    _assert_invalid(info.value, "props['i'][0][0]", f"more than {codec.MAX_DEPTH} deep")  # type: ignore[arg-type]
    assert _events(redis_url, request.instance) == []


def test_a_garbage_flood_logs_a_few_warnings_and_no_traceback(
    hostile_server: ServerProcess, channel: grpc.Channel, hostile: MotionClient
) -> None:
    assert hostile_server.log is not None
    logged_before = hostile_server.log.stat().st_size
    for _ in range(100):
        _assert_invalid(_raw_call(channel, "Run", b"\x0a\x05garbage"), "malformed MotionService.Run request")
    assert hostile.instance("Ledger", unique()).run("append", {"i": 1}) == 0  # still serving
    logged_bytes = hostile_server.log.read_bytes()
    logged = logged_bytes.decode(errors="replace")
    flood = logged_bytes[logged_before:].decode(errors="replace").splitlines()
    warning = "WARNING motion_grpc.server.interceptors: malformed MotionService.Run request"
    assert warning in logged  # this flood's, or earlier tests' in this minute
    assert len([line for line in flood if "malformed" in line]) <= 21  # 10 a minute, and a window's end
    assert not [line for line in flood if "Traceback" in line or " ERROR " in line]


# -- item 9: NaN and Infinity ---------------------------------------------------------


@pytest.mark.parametrize("number", [math.nan, math.inf, -math.inf])
def test_non_finite_props_are_refused_before_anything_is_enqueued(
    hostile: MotionClient, redis_url: str, number: float
) -> None:
    handle = hostile.instance("Ledger", unique())
    handle.run("append", {"i": 1}, flush_update=True)
    events = _events(redis_url, handle.ref)
    request = pb.RunRequest(instance=handle.ref, flow="append")
    request.props.fields["batch"].list_value.values.add().number_value = 1
    request.props.fields["batch"].list_value.values.add().number_value = number
    with pytest.raises(grpc.RpcError) as info:
        hostile.stub.Run(request, timeout=10)
    _assert_invalid(info.value, f"props['batch'][1] is {number}; numbers must be finite")  # type: ignore[arg-type]
    assert _events(redis_url, handle.ref) == events
    assert handle.get_state() == {"items": [1]}


def test_non_finite_write_state_patch_is_refused(hostile: MotionClient) -> None:
    handle = hostile.instance("Ledger", unique())
    handle.run("append", {"i": 1}, flush_update=True)
    version = handle.version
    request = pb.WriteStateRequest(instance=handle.ref)
    request.patch.fields["items"].number_value = math.inf
    with pytest.raises(grpc.RpcError) as info:
        hostile.stub.WriteState(request, timeout=10)
    _assert_invalid(info.value, "patch['items'] is inf")  # type: ignore[arg-type]
    assert handle.version == version and handle.get_state() == {"items": [1]}


def test_requests_of_many_small_values_decoded_off_the_loop_answer_as_small_ones(
    hostile: MotionClient, redis_url: str
) -> None:
    """Past 64 KB a request is decoded (and a run's props walked) on a thread: same answers."""
    many = [[] for _ in range(60_000)]  # 240 KB on the wire
    handle = hostile.instance("Ledger", unique())
    handle.run("append", {"i": 1, "padding": many}, flush_update=True)
    assert handle.get_state() == {"items": [1]}
    assert list(handle.stream("append", {"i": 2, "padding": many})) == [1]
    handle.flush()
    assert handle.get_state() == {"items": [1, 2]}
    handle.write_state({"items": [1, 2], "many": many})
    assert handle.get_state(["many"]) == {"many": many}
    with pytest.raises(NotFoundError) as missing:
        handle.run("no_such_flow", {"padding": many})
    assert missing.value.reason == "FLOW_NOT_FOUND"
    events = _events(redis_url, handle.ref)
    request = pb.RunRequest(instance=handle.ref, flow="append")
    request.props.fields["padding"].CopyFrom(codec.to_value(many, "padding"))
    request.props.fields["padding"].list_value.values.add().number_value = math.nan
    with pytest.raises(grpc.RpcError) as info:
        hostile.stub.Run(request, timeout=10)
    _assert_invalid(info.value, "props['padding'][60000] is nan")  # type: ignore[arg-type]
    assert _events(redis_url, handle.ref) == events


def test_a_long_props_key_is_cut_in_the_message(hostile: MotionClient) -> None:
    request = pb.RunRequest(instance=pb.InstanceRef(component="Ledger", instance_id=unique()), flow="append")
    request.props.fields["k" * 100_000].number_value = math.nan
    with pytest.raises(grpc.RpcError) as info:
        hostile.stub.Run(request, timeout=10)
    _assert_invalid(info.value, "more characters", "is nan")  # type: ignore[arg-type]


@pytest.mark.parametrize("text", ["nan", "inf", "-inf"])
def test_a_serve_result_that_cannot_be_sent_enqueues_nothing(
    hostile: MotionClient, redis_url: str, text: str
) -> None:
    handle = hostile.instance("Hostile", unique())
    for _ in range(3):  # warm: later runs take the fast path, on the server's snapshot
        handle.run("number", {}, flush_update=True)
    events = _events(redis_url, handle.ref)
    for _ in range(3):
        with pytest.raises(OpError) as info:
            handle.run("number", {"text": text})
        assert info.value.code == grpc.StatusCode.UNKNOWN
        assert info.value.error_type == "ValueError"
        assert "serve result of flow number cannot be sent" in info.value.message
        assert f"result['value'] is {float(text)}" in info.value.message
    with pytest.raises(OpError, match="cannot be sent"):
        list(handle.stream("number", {"text": text}))
    assert handle.flush().version == 4
    assert _events(redis_url, handle.ref) == events
    assert handle.get_state()["runs"] == 3


@pytest.mark.parametrize(
    ("text", "times", "surrogate"), [("é", 20_000, False), ("bad", 1, True), ("x", 9_000, True)]
)
def test_an_op_error_with_a_huge_or_unencodable_message_answers_op_failed(
    hostile: MotionClient, text: str, times: int, surrogate: bool
) -> None:
    """The message travels cut and as valid UTF-8 (it overflowed grpc's 8 KB of trailers, or failed
    to encode, and answered RESOURCE_EXHAUSTED or UNKNOWN without a reason); an update op's is stored
    the same way in its FAILED event, and the queue goes on."""
    handle = hostile.instance("Hostile", unique())
    with pytest.raises(OpError) as info:
        handle.run("shout", {"text": text, "times": times, "surrogate": surrogate})
    error = info.value
    assert error.code == grpc.StatusCode.UNKNOWN and error.reason == "OP_FAILED"
    assert error.error_type == "ValueError" and "serve op hostile_shout" in error.message
    assert len(error.message.encode()) <= 1024
    assert ("cut" in error.message) == (times > 1)
    props = {"text": text, "times": times, "surrogate": surrogate}
    outcome = handle.run_outcome("whisper", props, flush_update=True)
    (failed,) = outcome.update_outcomes
    assert failed.status == pb.UPDATE_STATUS_FAILED and failed.error_type == "ValueError"
    assert len(failed.error_message) <= 2200 and failed.error_message.encode()
    assert handle.run_outcome("level", {"text": "2"}, flush_update=True).version == outcome.version + 1


def test_a_result_too_large_for_a_response_is_refused_before_anything_is_enqueued(redis_url: str) -> None:
    """gRPC itself refused to send it (RESOURCE_EXHAUSTED, no reason, no flag named), after the
    run's updates had been enqueued and were applied."""
    args = ["--max-message-bytes", str(1024 * 1024)]
    with (
        ServerProcess(apps=[HOSTILE_APP], redis_url=redis_url, args=args) as server,
        MotionClient(server.target) as client,
    ):
        handle = client.instance("Hostile", unique())
        assert handle.run("big", {"size": 10}, flush_update=True) == "x" * 10
        for size in (1024 * 1024, 990_000):  # over the limit, and under it by less than a response's room
            with pytest.raises(ResourceExhaustedError, match="--max-message-bytes") as refused:
                handle.run("big", {"size": size})
            assert refused.value.reason == "RESOURCE_EXHAUSTED"
            with pytest.raises(ResourceExhaustedError, match="--max-message-bytes"):
                list(handle.stream("big", {"size": size}))
        assert len(handle.run("big", {"size": 900_000})) == 900_000
        handle.flush()
        assert handle.get_state(["runs"]) == {"runs": 2}  # the two runs that were answered
        handle.write_state({"blob": "y" * 600_000})  # a state may be larger than a response
        handle.write_state({"more": "z" * 600_000})
        with pytest.raises(ResourceExhaustedError, match="ask for fewer keys"):
            handle.get_state()
        assert handle.get_state(["runs"]) == {"runs": 2}


def test_the_client_takes_every_answer_the_server_may_send(hostile: MotionClient) -> None:
    """An answer between gRPC's 4 MiB default and the server's 8 MiB was refused by the client
    after its run's updates had been enqueued: a caller retrying the "failed" run ran it twice."""
    handle = hostile.instance("Hostile", unique())
    assert len(handle.run("big", {"size": 6 * 1024 * 1024})) == 6 * 1024 * 1024
    handle.flush()
    assert handle.get_state(["runs"]) == {"runs": 1}


def test_a_pickled_serve_result_may_be_nan(hostile: MotionClient) -> None:
    handle = hostile.instance("Hostile", unique())
    request = pb.RunRequest(instance=handle.ref, flow="number", accept_pickle=True, flush_update=True)
    request.props.fields["text"].string_value = "nan"
    response = hostile.stub.Run(request, timeout=10)
    assert math.isnan(codec.loads(response.pickled_result)["value"])
    assert handle.get_state()["runs"] == 1


def test_get_state_of_a_non_finite_value_answers_a_clear_error(hostile: MotionClient) -> None:
    handle = hostile.instance("Hostile", unique())
    handle.run("level", {"text": "inf"}, flush_update=True)
    with pytest.raises(FailedPreconditionError) as info:
        handle.get_state()
    assert "state['level'] is inf; numbers must be finite" in info.value.message
    assert "accept_pickle" in info.value.message
    assert handle.get_state(["runs"]) == {"runs": 0}  # the rest still reads


# -- item 16: ids and echoed input ----------------------------------------------------

INVISIBLE = ["\u202e", "\u200b", "\u2028", "\ufeff"]


@pytest.mark.parametrize("char", INVISIBLE)
def test_ids_with_invisible_characters_are_refused_by_every_rpc(hostile: MotionClient, char: str) -> None:
    bad_id = f"user{char}42"
    handle = hostile.instance("Ledger", bad_id)
    calls = [
        lambda: handle.run("append", {"i": 1}),
        handle.get_state,
        lambda: handle.write_state({"items": []}),
        handle.flush,
        handle.delete,
        lambda: list(hostile.list_instances(f"Ledger{char}")),
        lambda: hostile.instance(f"Led{char}ger", "a").run("append", {"i": 1}),
    ]
    for call in calls:
        with pytest.raises(InvalidArgumentError) as info:
            call()
        assert f"U+{ord(char):04X}" in info.value.message
        assert char not in info.value.message
    with pytest.raises(NotFoundError):
        hostile.instance("Ledger", "user42").get_state()  # nothing was created under a look-alike id


def test_a_100_kb_state_key_answers_not_found_with_a_short_message(hostile: MotionClient) -> None:
    handle = hostile.instance("Ledger", unique())
    handle.run("append", {"i": 1}, flush_update=True)
    with pytest.raises(NotFoundError) as info:
        handle.get_state(["k" * 100_000])
    assert info.value.code == grpc.StatusCode.NOT_FOUND
    assert "more characters" in info.value.message and len(info.value.message) < SHORT


# -- a bug in a handler: still logged, never a flood ----------------------------------


def test_handler_bugs_answer_internal_and_log_rate_limited(caplog: pytest.LogCaptureFixture) -> None:
    service = f"test.Buggy{uuid.uuid4().hex}"  # a fresh log kind: earlier tests' lines do not count

    async def buggy(request: bytes, context: aio.ServicerContext[bytes, bytes]) -> bytes:
        raise RuntimeError("a bug in a handler")

    async def call_it(times: int) -> list[grpc.StatusCode]:
        server = aio.server(interceptors=[ErrorMappingInterceptor()])
        handlers = {"Call": grpc.unary_unary_rpc_method_handler(buggy)}
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(service, handlers),))
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        codes = []
        try:
            async with aio.insecure_channel(f"127.0.0.1:{port}") as channel:
                call = channel.unary_unary(f"/{service}/Call")
                for _ in range(times):
                    with pytest.raises(aio.AioRpcError) as info:
                        await call(b"x")
                    codes.append(info.value.code())
        finally:
            await server.stop(None)
        return codes

    with caplog.at_level(logging.ERROR, logger="motion_grpc.server.interceptors"):
        assert asyncio.run(call_it(50)) == [grpc.StatusCode.INTERNAL] * 50
    lines = [record.getMessage() for record in caplog.records if "unexpected error" in record.getMessage()]
    assert 1 <= len(lines) <= 10  # 10 a minute per method
    assert "RuntimeError: a bug in a handler" in lines[0] and "Traceback" in lines[0]
