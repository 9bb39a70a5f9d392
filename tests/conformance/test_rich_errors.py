"""Every error status carries a google.rpc.ErrorInfo whose reason the Python client exposes.

The server side builds the trailers with interceptors.status_trailers; the
client reads them with to_error. Here the two meet through grpc's own error
class, for every class of the table and every finer reason; the scenarios
(test_scenarios.py) check the same over the wire.
"""

from __future__ import annotations

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2
from grpc import aio

from motion_grpc.client._messages import STATUS_DETAILS_KEY, to_error
from motion_grpc.engine.runner import OpTimeoutError
from motion_grpc.errors import (
    CLASS_BY_CODE,
    ERROR_CLASSES,
    ERROR_DOMAIN,
    ERROR_TYPE_METADATA_KEY,
    REASONS,
    ComponentNotFoundError,
    FailedPreconditionError,
    InvalidPropsError,
    InvalidRequestIdError,
    MotionError,
    OpError,
    QueueFullError,
    Reason,
    UnknownFlowError,
    status_for,
)
from motion_grpc.server.interceptors import status_trailers

FINER = (InvalidPropsError, InvalidRequestIdError, ComponentNotFoundError, UnknownFlowError, QueueFullError)


def _raise(error: BaseException) -> grpc.RpcError:
    """The grpc error a client gets when the server answers `error`."""
    code, message = status_for(error)
    trailers = aio.Metadata(*status_trailers(error, code, message))
    return aio.AioRpcError(code, aio.Metadata(), trailers, details=message)


def _make(cls: type[MotionError]) -> MotionError:
    return cls("failed on purpose") if cls is not OpError else OpError("failed on purpose", "KeyError")


@pytest.mark.parametrize("cls", ERROR_CLASSES + FINER, ids=lambda cls: cls.__name__)
def test_each_error_class_reaches_the_client_with_its_code_and_reason(cls: type[MotionError]) -> None:
    sent = _make(cls)
    received = to_error(_raise(sent))
    assert type(received) is CLASS_BY_CODE[cls.code]
    assert (received.code, received.reason, received.message) == (cls.code, cls.reason, "failed on purpose")
    assert received.reason in REASONS


def test_the_status_details_are_a_google_rpc_status_with_one_error_info() -> None:
    error = _raise(OpError("boom", "ValueError"))
    trailers = dict(error.trailing_metadata())
    status = status_pb2.Status.FromString(trailers[STATUS_DETAILS_KEY])
    assert (status.code, status.message) == (grpc.StatusCode.UNKNOWN.value[0], "boom")
    info = error_details_pb2.ErrorInfo()
    assert len(status.details) == 1 and status.details[0].Unpack(info)
    assert (info.reason, info.domain) == ("OP_FAILED", ERROR_DOMAIN)
    assert dict(info.metadata) == {"error_type": "ValueError"}
    assert trailers[ERROR_TYPE_METADATA_KEY] == "ValueError"  # the older trailer still works


def test_a_reason_named_at_the_raise_site_and_finer_classes_win() -> None:
    refused = FailedPreconditionError("no pickles here", reason=Reason.PICKLE_NOT_ALLOWED)
    assert to_error(_raise(refused)).reason == "PICKLE_NOT_ALLOWED"
    timed_out = to_error(_raise(OpTimeoutError("too slow")))
    assert (timed_out.code, timed_out.reason) == (grpc.StatusCode.DEADLINE_EXCEEDED, "OP_TIMEOUT")


def test_an_unexpected_exception_is_internal_and_says_nothing_more() -> None:
    received = to_error(_raise(RuntimeError("secret path /etc")))
    assert (received.code, received.reason) == (grpc.StatusCode.INTERNAL, "INTERNAL")
    assert "secret" not in received.message


def test_a_status_without_details_has_an_empty_reason() -> None:
    """From a proxy, or a server older than the reasons."""
    bare = aio.AioRpcError(grpc.StatusCode.UNAVAILABLE, aio.Metadata(), aio.Metadata(), details="no route")
    received = to_error(bare)
    assert (received.code, received.reason) == (grpc.StatusCode.UNAVAILABLE, "")
