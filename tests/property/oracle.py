"""What a correct server answers to any request: the status codes each input allows.

Each malformed part of a request is a *problem* that must be reported (the
server may report any one of them when there are several); some inputs are
*debatable* (a nesting or size limit the server may or may not have, an
instance that may or may not exist), which adds codes without excluding the
success path. The oracle reads the parsed request, so a structured request,
raw bytes that happen to parse, and a truncated message get the same verdict.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import grpc
from google.protobuf import message, struct_pb2

from motion_grpc._proto.motion.v1 import motion_pb2 as pb

Code = grpc.StatusCode
OK, INVALID, NOT_FOUND = Code.OK, Code.INVALID_ARGUMENT, Code.NOT_FOUND

#: The app of this suite (tests/property/fuzzapp.py): its components and their flows.
FLOWS_OF = {"Echo": ("echo", "tokens")}
#: Props keys that make the app's ops raise or exit (their errors are the op's, UNKNOWN).
SERVE_MISCHIEF = ("serve_raise", "serve_exit")
MAX_NAME = 256
#: The server's receive limit (--max-message-bytes): a larger request answers RESOURCE_EXHAUSTED
#: before any handler.
MAX_MESSAGE = 8 * 1024 * 1024
#: The server's --max-props-bytes: larger props (encoded) answer INVALID_ARGUMENT.
MAX_PROPS = 4 * 1024 * 1024
#: Past these, a server may refuse props with a limit of its own (any limit below them is a finding).
SOFT_DEPTH = 20
SOFT_SIZE = 1024 * 1024
_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
_EVENT_ID = re.compile(r"[0-9]{1,20}-[0-9]{1,20}", re.ASCII)


@dataclass
class Expected:
    """The verdict on one request: problems to report, and codes that are also fine."""

    problems: dict[Code, list[str]] = field(default_factory=dict)
    debatable: set[Code] = field(default_factory=set)
    op_codes: set[Code] = field(default_factory=set)

    def problem(self, code: Code, why: str) -> None:
        self.problems.setdefault(code, []).append(why)

    @property
    def codes(self) -> frozenset[Code]:
        if Code.RESOURCE_EXHAUSTED in self.problems:  # refused by gRPC before anything else
            return frozenset({Code.RESOURCE_EXHAUSTED})
        if self.problems:
            return frozenset(self.problems) | self.debatable
        return frozenset({OK}) | self.debatable | self.op_codes

    def explain(self) -> str:
        found = [f"{code.name}: {'; '.join(why)}" for code, why in self.problems.items()]
        return " | ".join(found) or "a well-formed request"


def name_flaw(text: str) -> str | None:
    """Why a component name, instance id or flow key is malformed; None when it is fine."""
    if not text:
        return "empty"
    if len(text) > MAX_NAME:
        return f"{len(text)} characters long"
    for position, char in enumerate(text):
        category = unicodedata.category(char)
        if category in _REFUSED_CATEGORIES or (category == "Zs" and char != " "):
            return f"U+{ord(char):04X} ({category}) at {position}"
    return None


def event_id_flaw(text: str) -> str | None:
    if not _EVENT_ID.fullmatch(text):
        return "not '<ms>-<seq>' in ASCII digits"
    if any(int(part) >= 2**64 for part in text.split("-")):
        return "out of the stream id range"
    return None


def check_ref(expected: Expected, ref: pb.InstanceRef) -> str | None:
    """Problems of an InstanceRef; the component's name when it is one this app hosts."""
    component_flaw = name_flaw(ref.component)
    if component_flaw:
        expected.problem(INVALID, f"component {component_flaw}")
    elif ref.component not in FLOWS_OF:
        expected.problem(NOT_FOUND, "unknown component")
    id_flaw = name_flaw(ref.instance_id)
    if id_flaw:
        expected.problem(INVALID, f"instance id {id_flaw}")
    known = ref.component in FLOWS_OF and not component_flaw
    return ref.component if known else None


def check_flow(expected: Expected, component: str | None, flow: str) -> bool:
    """Problems of a flow key; True when it names a flow of the app."""
    flaw = name_flaw(flow)
    if flaw:
        expected.problem(INVALID, f"flow {flaw}")  # a malformed key is also an unknown one
        expected.debatable.add(NOT_FOUND)
        return False
    if component is not None and flow not in FLOWS_OF[component]:
        expected.problem(NOT_FOUND, "unknown flow")
        return False
    return component is not None


def check_values(expected: Expected, struct: struct_pb2.Struct, what: str) -> None:
    """Problems of a Struct the server decodes: non-finite numbers; debatable depth and size."""
    non_finite = [number for number in _numbers(struct) if not math.isfinite(number)]
    if non_finite:
        expected.problem(INVALID, f"{what} holds {non_finite[0]}")
    if depth(struct) > SOFT_DEPTH:
        expected.debatable.add(INVALID)
    if struct.ByteSize() > SOFT_SIZE:
        expected.debatable |= {INVALID, Code.RESOURCE_EXHAUSTED}


def check_size(expected: Expected, request: message.Message) -> None:
    if request.ByteSize() > MAX_MESSAGE:
        expected.problem(Code.RESOURCE_EXHAUSTED, "message over the server's 8 MiB receive limit")


def depth(value: Any) -> int:
    """Nesting depth of a Struct, ListValue or Value (a scalar is 0)."""
    if isinstance(value, struct_pb2.Struct):
        return 1 + max((depth(item) for item in value.fields.values()), default=0)
    if isinstance(value, struct_pb2.ListValue):
        return 1 + max((depth(item) for item in value.values), default=0)
    kind = value.WhichOneof("kind")
    if kind in ("struct_value", "list_value"):
        return depth(getattr(value, kind))
    return 0


def _numbers(value: Any) -> Iterable[float]:
    if isinstance(value, struct_pb2.Struct):
        for item in value.fields.values():
            yield from _numbers(item)
    elif isinstance(value, struct_pb2.ListValue):
        for item in value.values:
            yield from _numbers(item)
    else:
        kind = value.WhichOneof("kind")
        if kind == "number_value":
            yield value.number_value
        elif kind in ("struct_value", "list_value"):
            yield from _numbers(getattr(value, kind))


def instance_scoped(request: Any) -> tuple[Expected, str | None]:
    """The verdict so far on a request naming an instance: its size and its InstanceRef."""
    expected = Expected()
    check_size(expected, request)
    return expected, check_ref(expected, request.instance)


def run_verdict(request: pb.RunRequest) -> Expected:
    """Run and RunStream."""
    expected, component = instance_scoped(request)
    known_flow = check_flow(expected, component, request.flow)
    check_values(expected, request.props, "props")
    if request.props.ByteSize() + len(request.pickled_props) > MAX_PROPS:
        expected.problem(INVALID, "props over --max-props-bytes")
    if request.pickled_props:
        expected.problem(Code.FAILED_PRECONDITION, "pickled props to a server without --allow-pickle")
    if request.HasField("init_state_params"):
        params = Expected()
        check_values(params, request.init_state_params, "init_state_params")
        if params.problems or params.debatable:  # used only when the call creates the instance
            expected.debatable.add(INVALID)
    if known_flow and any(key in request.props.fields for key in SERVE_MISCHIEF):
        expected.op_codes.add(Code.UNKNOWN)
    return expected


def get_state_verdict(request: pb.GetStateRequest) -> Expected:
    expected, _ = instance_scoped(request)
    expected.debatable.add(NOT_FOUND)  # the instance or a key may not exist
    if any(name_flaw(key) for key in request.keys):
        expected.debatable.add(INVALID)
    if not request.accept_pickle and not request.version_only:
        expected.debatable.add(Code.FAILED_PRECONDITION)  # a state value with no Value form
    return expected


def flush_verdict(request: pb.FlushUpdatesRequest) -> Expected:
    expected, component = instance_scoped(request)
    if request.flow:
        check_flow(expected, component, request.flow)
    if request.since_update_id:
        flaw = event_id_flaw(request.since_update_id)
        if flaw:
            expected.problem(INVALID, f"since_update_id {flaw}")
    expected.debatable.add(NOT_FOUND)
    return expected


def watch_verdict(request: pb.WatchUpdatesRequest) -> Expected:
    expected, component = instance_scoped(request)
    if request.after_event_id:
        flaw = event_id_flaw(request.after_event_id)
        if flaw:
            expected.problem(INVALID, f"after_event_id {flaw}")
        else:
            expected.debatable |= {Code.OUT_OF_RANGE, INVALID}  # older than the history, or in its future
    for flow in request.flows:
        if name_flaw(flow) or (component is not None and flow not in FLOWS_OF[component]):
            expected.debatable |= {INVALID, NOT_FOUND}
    if not request.create_if_missing:
        expected.debatable.add(NOT_FOUND)
    return expected


def write_state_verdict(request: pb.WriteStateRequest) -> Expected:
    expected, _ = instance_scoped(request)
    check_values(expected, request.patch, "patch")
    if request.pickled_patch:
        expected.problem(Code.FAILED_PRECONDITION, "pickled patch to a server without --allow-pickle")
    if any(name_flaw(key) for key in request.patch.fields):
        expected.debatable.add(INVALID)
    expected.debatable.add(NOT_FOUND)
    return expected


def describe_verdict(request: pb.DescribeComponentsRequest) -> Expected:
    expected = Expected()
    check_size(expected, request)
    return expected


def list_verdict(request: pb.ListInstancesRequest) -> Expected:
    expected = Expected()
    check_size(expected, request)
    flaw = name_flaw(request.component)
    if flaw:
        expected.problem(INVALID, f"component {flaw}")
    elif request.component not in FLOWS_OF:
        expected.problem(NOT_FOUND, "unknown component")
    if request.page_token:
        expected.debatable.add(INVALID)  # only tokens the service returned are valid
    return expected


def delete_verdict(request: pb.DeleteInstanceRequest) -> Expected:
    expected, _ = instance_scoped(request)
    return expected


@dataclass(frozen=True)
class Method:
    """One MotionService RPC as the suite sees it."""

    name: str
    request_type: type[message.Message]
    streaming: bool
    verdict: Any

    @property
    def path(self) -> str:
        return f"/motion.v1.MotionService/{self.name}"


METHODS = {
    method.name: method
    for method in (
        Method("Run", pb.RunRequest, False, run_verdict),
        Method("RunStream", pb.RunRequest, True, run_verdict),
        Method("GetState", pb.GetStateRequest, False, get_state_verdict),
        Method("FlushUpdates", pb.FlushUpdatesRequest, False, flush_verdict),
        Method("WatchUpdates", pb.WatchUpdatesRequest, True, watch_verdict),
        Method("WriteState", pb.WriteStateRequest, False, write_state_verdict),
        Method("DescribeComponents", pb.DescribeComponentsRequest, False, describe_verdict),
        Method("ListInstances", pb.ListInstancesRequest, False, list_verdict),
        Method("DeleteInstance", pb.DeleteInstanceRequest, False, delete_verdict),
    )
}


def verdict_on_bytes(method: Method, data: bytes) -> Expected:
    """The verdict on raw bytes: INVALID_ARGUMENT unless they parse, then the parsed request's."""
    expected = Expected()
    if len(data) > MAX_MESSAGE:
        expected.problem(Code.RESOURCE_EXHAUSTED, "message over the server's 8 MiB receive limit")
        return expected
    try:
        request = method.request_type.FromString(data)
    except message.DecodeError as exc:
        expected.problem(INVALID, f"does not parse as {method.request_type.__name__}: {str(exc)[:80]}")
        return expected
    parsed: Expected = method.verdict(request)
    return parsed
