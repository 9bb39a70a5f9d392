"""Requests and responses shared by the sync and asyncio clients."""

from __future__ import annotations

import functools
import json
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from types import TracebackType
from typing import Any

import grpc
from google.rpc import error_details_pb2, status_pb2

from motion_grpc import codec
from motion_grpc._proto.motion.v1 import motion_pb2 as pb
from motion_grpc.errors import (
    ERROR_DOMAIN,
    ERROR_TYPE_INFO_KEY,
    ERROR_TYPE_METADATA_KEY,
    InvalidArgumentError,
    InvalidPropsError,
    MotionError,
    error_for,
)

#: The trailer that carries a status's google.rpc.Status (and so its ErrorInfo).
STATUS_DETAILS_KEY = "grpc-status-details-bin"


@dataclass(frozen=True)
class RunOutcome:
    """Everything a Run answered: the result, the version it came from, and the queued updates."""

    result: Any
    version: int
    cached: bool
    update_ids: list[str] = field(default_factory=list)
    update_outcomes: list[pb.UpdateOutcome] = field(default_factory=list)
    #: The run's request id was seen before: the answer is to a retry, and nothing was enqueued again.
    deduplicated: bool = False


@dataclass(frozen=True)
class FlushOutcome:
    """The version after a flush and the awaited updates that failed or were discarded."""

    version: int
    failed: list[pb.UpdateOutcome] = field(default_factory=list)


def to_error(error: grpc.RpcError) -> MotionError:
    """The motion_grpc.errors exception for a failed call (the same table the server uses), with
    the ErrorInfo reason the server sent as `.reason` ("" when it sent none)."""
    code = error.code() if hasattr(error, "code") else grpc.StatusCode.UNKNOWN
    details = (error.details() if hasattr(error, "details") else None) or str(code)
    trailing = error.trailing_metadata() if hasattr(error, "trailing_metadata") else None
    trailers = {str(item[0]): item[1] for item in trailing or ()}  # type: ignore[index]
    reason, info = _error_info(trailers.get(STATUS_DETAILS_KEY))
    error_type = info.get(ERROR_TYPE_INFO_KEY) or trailers.get(ERROR_TYPE_METADATA_KEY)
    return error_for(code, details, None if error_type is None else str(error_type), reason)


def _error_info(details: object) -> tuple[str, dict[str, str]]:
    """Reason and metadata of the motion-grpc ErrorInfo in a serialized google.rpc.Status."""
    if not isinstance(details, bytes):
        return "", {}
    status = status_pb2.Status()
    try:
        status.ParseFromString(details)
    except Exception:  # a proxy's garbage must not hide the status code itself
        return "", {}
    for detail in status.details:
        info = error_details_pb2.ErrorInfo()
        if detail.Unpack(info) and info.domain == ERROR_DOMAIN:
            return info.reason, dict(info.metadata)
    return "", {}


def new_request_id() -> str:
    """A Run's request id: new per logical call, resent unchanged by the channel's retries."""
    return str(uuid.uuid4())


@functools.cache
def service_config() -> str:
    """The published retry policy (proto/motion/v1/service_config.json, copied beside the stubs by
    `make stubs`), as the value of the grpc.service_config channel option."""
    text = resources.files(pb.__package__).joinpath("service_config.json").read_text()
    return json.dumps(json.loads(text))


#: Largest response a client takes by default: above the server's (--max-message-bytes, 8 MiB by
#: default), so a large answer or state is never refused by the client after its run took effect.
MAX_RECEIVE_BYTES = 64 * 1024 * 1024


def channel_options(options: Iterable[tuple[str, Any]]) -> list[tuple[str, Any]]:
    """The caller's channel options, with the published service config and MAX_RECEIVE_BYTES
    unless they give their own."""
    given = list(options)
    names = {name for name, _ in given}
    defaults = [
        ("grpc.service_config", service_config()),
        ("grpc.max_receive_message_length", MAX_RECEIVE_BYTES),
    ]
    return [(name, value) for name, value in defaults if name not in names] + given


class _RpcErrors:
    """Raises the motion_grpc.errors class of a failed call's status in place of grpc.RpcError.

    A `with` block, so the blocking and the asyncio faces map errors alike
    around the one line that sends a call.
    """

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if isinstance(exc, grpc.RpcError):
            raise to_error(exc) from None


#: Stateless, so one instance serves every call.
rpc_errors = _RpcErrors()


def instance_ref(component: str, instance_id: str) -> pb.InstanceRef:
    return pb.InstanceRef(component=component, instance_id=instance_id)


def _encode_dict(
    value: Mapping[str, Any] | None, what: str, error: type[InvalidArgumentError] = InvalidArgumentError
) -> Any:
    """`value` as a Struct; `error` (with the reason the server would give) when it cannot be one."""
    if value is None:
        value = {}
    if not isinstance(value, Mapping):
        raise error(f"{what} must be a dict, not {type(value).__name__}")
    try:
        return codec.to_struct(value, what)
    except codec.EncodeError as exc:
        raise error(f"{exc}; send JSON-like data, or use a client with pickle=True") from exc


def run_request(
    ref: pb.InstanceRef,
    flow: str,
    props: Mapping[str, Any] | None,
    *,
    ignore_cache: bool,
    force_refresh: bool,
    flush_update: bool,
    init_state_params: Mapping[str, Any] | None,
    use_pickle: bool,
    request_id: str | None = None,
) -> pb.RunRequest:
    request = pb.RunRequest(
        instance=ref,
        flow=flow,
        request_id=new_request_id() if request_id is None else request_id,
        ignore_cache=ignore_cache,
        force_refresh=force_refresh,
        flush_update=flush_update,
        accept_pickle=use_pickle,
        init_state_params=_encode_dict(init_state_params, "init_state_params"),
    )
    if use_pickle:
        if props is not None and not isinstance(props, Mapping):
            raise InvalidPropsError(f"props must be a dict, not {type(props).__name__}")
        request.pickled_props = codec.pickle_dumps(dict(props or {}))
    else:
        request.props.CopyFrom(_encode_dict(props, "props", InvalidPropsError))
    return request


def unpickle(data: bytes, what: str, accept_pickle: bool) -> Any:
    """Load a pickle the server sent, only for a caller that opted in with pickle=True.

    Loading a pickle runs whatever code it names, so bytes from a server the
    caller did not choose to trust (a fake one, or anyone on the path) are
    refused before they are looked at.
    """
    if not accept_pickle:
        raise InvalidArgumentError(
            f"the server sent {what} as a pickle, which this client refuses to load: "
            "loading a pickle runs code. Use a client with pickle=True only for a server you trust"
        )
    return codec.unpickle_trusted(data)


def run_outcome(response: pb.RunResponse, accept_pickle: bool) -> RunOutcome:
    if response.pickled_result:
        result = unpickle(response.pickled_result, "the result", accept_pickle)
    else:
        result = codec.from_value(response.result)
    return RunOutcome(
        result=result,
        version=response.version,
        cached=response.cached,
        update_ids=list(response.update_ids),
        update_outcomes=list(response.update_outcomes),
        deduplicated=response.deduplicated,
    )


def state_request(ref: pb.InstanceRef, keys: Iterable[str] | None, use_pickle: bool) -> pb.GetStateRequest:
    if isinstance(keys, str):
        keys = [keys]
    return pb.GetStateRequest(instance=ref, keys=list(keys or ()), accept_pickle=use_pickle)


def state_of(response: pb.GetStateResponse, accept_pickle: bool) -> dict[str, Any]:
    if response.pickled_state:
        return {
            key: unpickle(value, f"state key {key!r}", accept_pickle)
            for key, value in response.pickled_state.items()
        }
    return codec.from_struct(response.state)


def write_request(ref: pb.InstanceRef, patch: Mapping[str, Any], use_pickle: bool) -> pb.WriteStateRequest:
    if use_pickle:
        return pb.WriteStateRequest(instance=ref, pickled_patch=codec.pickle_dumps(dict(patch)))
    return pb.WriteStateRequest(instance=ref, patch=_encode_dict(patch, "patch"))
