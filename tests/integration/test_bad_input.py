"""Bad input gets a clear error with the right status; the server stays up and state is untouched."""

from __future__ import annotations

import grpc
import pytest

from motion_grpc import MotionClient, codec
from motion_grpc._proto.motion.v1 import motion_pb2 as pb
from motion_grpc.errors import (
    InvalidArgumentError,
    InvalidPropsError,
    NotFoundError,
    OpError,
)
from tests.helpers import unique


def test_unknown_component_names_what_exists(client: MotionClient) -> None:
    with pytest.raises(NotFoundError) as info:
        client.instance("Nope", "a").run("append")
    assert info.value.code == grpc.StatusCode.NOT_FOUND
    assert "Ledger" in info.value.message and "Nope" in info.value.message


def test_unknown_flow_names_the_flows(client: MotionClient) -> None:
    with pytest.raises(NotFoundError) as info:
        client.instance("Ledger", unique()).run("nope")
    assert "append" in info.value.message


@pytest.mark.parametrize(
    ("component", "instance_id", "fragment"),
    [
        ("Ledger", "", "must not be empty"),
        ("", "x", "must not be empty"),
        ("Ledger", "x" * 257, "at most 256"),
        ("Ledger", "a\nb", "control characters"),
        ("Led\x00ger", "a", "control characters"),
    ],
)
def test_malformed_ids(client: MotionClient, component: str, instance_id: str, fragment: str) -> None:
    with pytest.raises(InvalidArgumentError) as info:
        client.instance(component, instance_id).run("append", {"i": 1})
    assert info.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert fragment in info.value.message


def test_longest_valid_id_works(client: MotionClient) -> None:
    assert client.instance("Ledger", "é" * 256).run("append", {"i": 1}, flush_update=True) == 0


def test_props_that_are_not_an_object(client: MotionClient) -> None:
    with pytest.raises(InvalidPropsError, match="props must be a dict") as info:
        client.instance("Ledger", unique()).run("append", [1, 2])  # type: ignore[arg-type]
    assert info.value.reason == "INVALID_PROPS"


def _nested(depth: int) -> object:
    value: object = 0
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize("props", [{"a": float("nan")}, {"a": {1, 2}}, {"deep": _nested(40)}])
def test_props_the_client_cannot_send_raise_the_reason_the_server_would_give(
    client: MotionClient, props: dict[str, object]
) -> None:
    """The client checks props before sending them: the same error as the server's, INVALID_PROPS."""
    with pytest.raises(InvalidPropsError) as info:
        client.instance("Ledger", unique()).run("append", props)
    assert (info.value.code, info.value.reason) == (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_PROPS")


def test_pickled_props_refused_without_flag(client: MotionClient) -> None:
    request = pb.RunRequest(
        instance=pb.InstanceRef(component="Ledger", instance_id=unique()),
        flow="append",
        pickled_props=codec.dumps({"i": 1}),
    )
    with pytest.raises(grpc.RpcError) as info:
        client.stub.Run(request)
    assert info.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "--allow-pickle" in (info.value.details() or "")


def test_serve_op_that_raises(client: MotionClient) -> None:
    handle = client.instance("Faulty", unique())
    with pytest.raises(OpError) as info:
        handle.run("go", {"fail": "nope"})
    assert info.value.code == grpc.StatusCode.UNKNOWN
    assert info.value.error_type == "ValueError"
    assert "serve refused: nope" in info.value.message
    assert "Traceback" not in info.value.message
    assert handle.run("go", {}, flush_update=True) == 0  # no update was enqueued by the failed run
    assert handle.get_state() == {"n": 1}


def test_serve_result_that_cannot_be_encoded(client: MotionClient) -> None:
    with pytest.raises(OpError, match="protobuf Value"):
        client.instance("Faulty", unique()).run("go", {"unencodable": True})


def test_update_op_that_raises_is_failed_and_the_queue_goes_on(client: MotionClient) -> None:
    handle = client.instance("Faulty", unique())
    handle.run("go", {"sleep": 0.5})  # keeps the next ones pending when the flush begins
    handle.run("go", {"fail_update": True})
    handle.run("go", {"bad_return": True})
    handle.run("go", {})
    flushed = handle.flush(timeout=30)
    assert [(f.op, f.status, f.error_type) for f in flushed.failed] == [
        ("faulty_update", pb.UPDATE_STATUS_FAILED, "KeyError"),
        ("faulty_update", pb.UPDATE_STATUS_FAILED, "TypeError"),
    ]
    assert "update refused" in flushed.failed[0].error_message
    assert "returned list" in flushed.failed[1].error_message
    assert handle.get_state() == {"n": 2}
    assert flushed.version == 3


def test_run_with_flush_update_reports_a_failed_update(client: MotionClient) -> None:
    outcome = client.instance("Faulty", unique()).run_outcome("go", {"fail_update": True}, flush_update=True)
    assert [o.status for o in outcome.update_outcomes] == [pb.UPDATE_STATUS_FAILED]
    assert outcome.update_outcomes[0].error_type == "KeyError"


def test_get_state_of_missing_instance_and_key(client: MotionClient) -> None:
    with pytest.raises(NotFoundError):
        client.instance("Ledger", unique()).get_state()
    handle = client.instance("Ledger", unique())
    handle.run("append", {"i": 1})
    with pytest.raises(NotFoundError, match="nope"):
        handle.get_state(["nope"])


def test_write_state_patch_must_be_an_object(client: MotionClient) -> None:
    handle = client.instance("Ledger", unique())
    handle.run("append", {"i": 1}, flush_update=True)
    assert handle.write_state({"items": [42]}) == 3
    assert handle.get_state() == {"items": [42]}
    with pytest.raises(InvalidArgumentError):
        handle.write_state(["no"])  # type: ignore[arg-type]


def test_server_still_serves_after_bad_input(client: MotionClient) -> None:
    for bad in ("", "x" * 300, "\x01"):
        with pytest.raises(InvalidArgumentError):
            client.instance("Ledger", bad).run("append", {"i": 1})
    assert client.instance("Ledger", unique()).run("append", {"i": 1}) == 0
