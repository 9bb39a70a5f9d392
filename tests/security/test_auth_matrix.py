"""Every RPC against every kind of caller, on one server with an API keys file and a token secret.

Unary and streaming RPCs alike: the check runs before the method does, so a
refused call never reaches the engine (a refused DeleteInstance leaves the
instance, a refused WriteState leaves the state).
"""

from __future__ import annotations

import pathlib
from collections.abc import Callable, Iterator
from typing import Any

import cloudpickle
import grpc
import pytest
from google.protobuf import struct_pb2

from motion_grpc._proto.motion.v1 import motion_pb2 as pb
from motion_grpc._proto.motion.v1 import motion_pb2_grpc
from motion_grpc.server.tokens import INVALID_TOKEN, issue_token
from tests.helpers import ServerProcess, unique
from tests.security.support import (
    ADMIN_KEY,
    CLIENT_KEY,
    WRONG_KEY,
    bearer,
    expired_token,
    health_status,
    token_for,
)

OK = grpc.StatusCode.OK
UNAUTHENTICATED = grpc.StatusCode.UNAUTHENTICATED
DENIED = grpc.StatusCode.PERMISSION_DENIED
Metadata = tuple[tuple[str, str], ...]
Call = Callable[[Any, pb.InstanceRef, Metadata], object]


def _struct(**fields: Any) -> struct_pb2.Struct:
    struct = struct_pb2.Struct()
    struct.update(fields)
    return struct


def _first(stream: Any) -> object:
    try:
        return next(stream)
    finally:
        stream.cancel()


def _run(stub: Any, ref: pb.InstanceRef, md: Metadata) -> object:
    return stub.Run(pb.RunRequest(instance=ref, flow="append", props=_struct(i=1)), metadata=md, timeout=10)


def _run_stream(stub: Any, ref: pb.InstanceRef, md: Metadata) -> object:
    request = pb.RunRequest(instance=ref, flow="tokens", props=_struct(n=2))
    return list(stub.RunStream(request, metadata=md, timeout=10))


def _get_state(stub: Any, ref: pb.InstanceRef, md: Metadata) -> object:
    return stub.GetState(pb.GetStateRequest(instance=ref), metadata=md, timeout=10)


def _flush(stub: Any, ref: pb.InstanceRef, md: Metadata) -> object:
    return stub.FlushUpdates(pb.FlushUpdatesRequest(instance=ref), metadata=md, timeout=10)


def _watch(stub: Any, ref: pb.InstanceRef, md: Metadata) -> object:
    return _first(stub.WatchUpdates(pb.WatchUpdatesRequest(instance=ref), metadata=md, timeout=10))


def _describe(stub: Any, ref: pb.InstanceRef, md: Metadata) -> object:
    return stub.DescribeComponents(pb.DescribeComponentsRequest(), metadata=md, timeout=10)


def _write(stub: Any, ref: pb.InstanceRef, md: Metadata) -> object:
    request = pb.WriteStateRequest(instance=ref, patch=_struct(items=["w"]))
    return stub.WriteState(request, metadata=md, timeout=10)


def _list(stub: Any, ref: pb.InstanceRef, md: Metadata) -> object:
    request = pb.ListInstancesRequest(component=ref.component, page_size=1)
    return stub.ListInstances(request, metadata=md, timeout=10)


def _delete(stub: Any, ref: pb.InstanceRef, md: Metadata) -> object:
    return stub.DeleteInstance(pb.DeleteInstanceRequest(instance=ref), metadata=md, timeout=10)


#: Each RPC: the component it is called on, whether it is admin-only, and a call that succeeds for admin.
RPCS: dict[str, tuple[str, bool, Call]] = {
    "Run": ("Ledger", False, _run),
    "RunStream": ("Tokens", False, _run_stream),
    "GetState": ("Ledger", False, _get_state),
    "FlushUpdates": ("Ledger", False, _flush),
    "WatchUpdates": ("Ledger", False, _watch),
    "DescribeComponents": ("Ledger", False, _describe),
    "WriteState": ("Ledger", True, _write),
    "ListInstances": ("Ledger", True, _list),
    "DeleteInstance": ("Ledger", True, _delete),
}


def _expired(ref: pb.InstanceRef) -> Metadata:
    return bearer(expired_token(ref.component, ref.instance_id))


def _other_instance(ref: pb.InstanceRef) -> Metadata:
    return bearer(token_for(ref.component, unique("other")))


def _this_instance(ref: pb.InstanceRef) -> Metadata:
    return bearer(token_for(ref.component, ref.instance_id))


#: Each kind of caller: its metadata for an instance, and the code it gets on a client RPC / an admin RPC.
CALLERS: dict[str, tuple[Callable[[pb.InstanceRef], Metadata], grpc.StatusCode, grpc.StatusCode]] = {
    "no credentials": (lambda ref: (), UNAUTHENTICATED, UNAUTHENTICATED),
    "wrong key": (lambda ref: bearer(WRONG_KEY), UNAUTHENTICATED, UNAUTHENTICATED),
    "expired token": (_expired, UNAUTHENTICATED, UNAUTHENTICATED),
    "token for another instance": (_other_instance, DENIED, DENIED),
    "token for this instance": (_this_instance, OK, DENIED),
    "client key": (lambda ref: bearer(CLIENT_KEY), OK, DENIED),
    "admin key": (lambda ref: bearer(ADMIN_KEY), OK, OK),
}


@pytest.fixture(scope="module")
def stub(secured: ServerProcess) -> Iterator[Any]:
    with grpc.insecure_channel(secured.target) as channel:
        yield motion_pb2_grpc.MotionServiceStub(channel)


def _code(call: Callable[[], object]) -> grpc.StatusCode:
    try:
        call()
    except grpc.RpcError as exc:
        return exc.code()  # type: ignore[no-any-return]
    return OK


def _existing(stub: Any, component: str) -> pb.InstanceRef:
    """A fresh instance of `component`, created by the admin."""
    ref = pb.InstanceRef(component=component, instance_id=unique())
    if component == "Tokens":
        list(stub.RunStream(pb.RunRequest(instance=ref, flow="tokens"), metadata=bearer(ADMIN_KEY)))
    else:
        stub.Run(pb.RunRequest(instance=ref, flow="append", props=_struct(i=0)), metadata=bearer(ADMIN_KEY))
    return ref


def _state_items(stub: Any, ref: pb.InstanceRef) -> list[Any]:
    reply = stub.GetState(pb.GetStateRequest(instance=ref), metadata=bearer(ADMIN_KEY), timeout=10)
    return list(reply.state["items"])


@pytest.mark.parametrize("caller", list(CALLERS))
@pytest.mark.parametrize("rpc", list(RPCS))
def test_every_rpc_answers_every_caller_with_its_code(stub: Any, rpc: str, caller: str) -> None:
    component, admin_only, call = RPCS[rpc]
    metadata_for, client_rpc_code, admin_rpc_code = CALLERS[caller]
    expected = admin_rpc_code if admin_only else client_rpc_code
    if rpc == "DescribeComponents" and caller == "token for another instance":
        expected = OK  # a token may list what the server hosts: no instance, nothing stored
    ref = _existing(stub, component)
    assert _code(lambda: call(stub, ref, metadata_for(ref))) == expected
    if expected != OK and component == "Ledger":  # nothing ran: the instance and its state are untouched
        stub.FlushUpdates(pb.FlushUpdatesRequest(instance=ref), metadata=bearer(ADMIN_KEY), timeout=10)
        assert _state_items(stub, ref) == [0]


def test_refusals_say_nothing_that_helps_forging_a_token(stub: Any) -> None:
    ref = _existing(stub, "Ledger")
    good = token_for("Ledger", ref.instance_id)
    signed, _, signature = good.rpartition(".")
    tampered_payload = signed[:-2] + ("A" if signed[-2] != "A" else "B") + signed[-1] + "." + signature
    forged = [
        tampered_payload,
        issue_token(b"another-secret-0123456789abcdef-01234", "Ledger", ref.instance_id, 60),
        good[:-3],
        "mgt1.garbage",
        "mgt1." + "A" * 3000,
        WRONG_KEY,
    ]
    for credential in forged:
        with pytest.raises(grpc.RpcError) as info:
            stub.GetState(pb.GetStateRequest(instance=ref), metadata=bearer(credential), timeout=10)
        assert info.value.code() == UNAUTHENTICATED, credential
        assert info.value.details() == INVALID_TOKEN, credential


def test_malformed_authorization_metadata_is_unauthenticated(stub: Any) -> None:
    ref = _existing(stub, "Ledger")
    request = pb.GetStateRequest(instance=ref)
    for metadata in (
        (("authorization", ADMIN_KEY),),  # no scheme
        (("authorization", f"Basic {ADMIN_KEY}"),),
        (("authorization", "Bearer "),),
        (("authorization", f"Bearer {ADMIN_KEY}"), ("authorization", f"Bearer {ADMIN_KEY}")),
    ):
        with pytest.raises(grpc.RpcError) as info:
            stub.GetState(request, metadata=metadata, timeout=10)
        assert info.value.code() == UNAUTHENTICATED
        assert "Bearer" in (info.value.details() or "")


def test_a_token_may_not_send_pickled_props_even_to_a_pickle_server(
    stub: Any, tmp_path: pathlib.Path
) -> None:
    """Unpickling runs code: tokens are for less trusted callers, so their pickle is refused unread."""
    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self) -> tuple[Any, ...]:
            return (pathlib.Path.mkdir, (marker,))

    ref = _existing(stub, "Ledger")
    request = pb.RunRequest(instance=ref, flow="append", pickled_props=cloudpickle.dumps(Payload()))
    metadata = bearer(token_for("Ledger", ref.instance_id))
    assert _code(lambda: stub.Run(request, metadata=metadata, timeout=10)) == DENIED
    assert not marker.exists()


def test_health_answers_without_credentials(secured: ServerProcess) -> None:
    with grpc.insecure_channel(secured.target) as channel:
        assert health_status(channel) == 1  # SERVING


def test_reflection_answers_without_credentials_when_the_server_has_it(secured: ServerProcess) -> None:
    reflection = pytest.importorskip("grpc_reflection.v1alpha.reflection_pb2")
    reflection_grpc = pytest.importorskip("grpc_reflection.v1alpha.reflection_pb2_grpc")
    with grpc.insecure_channel(secured.target) as channel:
        stream = reflection_grpc.ServerReflectionStub(channel).ServerReflectionInfo(
            iter([reflection.ServerReflectionRequest(list_services="")]), timeout=10
        )
        try:
            reply = next(stream)
        except grpc.RpcError as exc:
            if exc.code() == grpc.StatusCode.UNIMPLEMENTED:
                pytest.skip("this server has no reflection service yet")
            raise
    services = {service.name for service in reply.list_services_response.service}
    assert "motion.v1.MotionService" in services
