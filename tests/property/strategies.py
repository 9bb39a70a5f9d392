"""Hypothesis strategies for hostile MotionService requests, and hand-made hostile bytes.

Values are put into protobuf objects directly (not through motion_grpc.codec,
which refuses NaN), so the suite can send whatever a client of any language
could send.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from google.protobuf import message, struct_pb2, text_format
from hypothesis import strategies as st

from motion_grpc._proto.motion.v1 import motion_pb2 as pb
from tests.property.oracle import FLOWS_OF, MAX_MESSAGE, METHODS

M = TypeVar("M", bound=message.Message)
T = TypeVar("T")

COMPONENT = "Echo"
#: Instances created at session start (not bystanders: the suite targets them), so that
#: calls reach past "no such instance".
LIVE_IDS = tuple(f"live-{index}" for index in range(4))
MISCHIEF = ("serve_raise", "serve_exit", "update_raise", "update_exit")
TRICKY_NAMES = (
    *("", " ", "__", "a__b", "Echo__live-0", "../../etc/passwd", "/", "a/b", "motion:{x}:state", "{", "}"),
    *("*", "?", "\\", "%s%n", "0-0", "\u202e", "\u200b", "\u2028", "\u2029", "\ufeff", "a\x00b", "\x7f"),
    *("\x85", "\u00a0", "\u3000", "\ue000", "\ufffe", "\U000e0001", "é" * 256, "x" * 256, "x" * 257),
    *("\U0001f600" * 256, "\U0001f600" * 257, "a\u0301" * 128),
)
RUN_OPTIONS = ("ignore_cache", "force_refresh", "flush_update", "accept_pickle")
_ODD_CATEGORIES = ("Cc", "Cf", "Co", "Cn", "Zl", "Zp", "Zs")


class Shown(Generic[M]):
    """A request with a short repr: hypothesis prints failing examples, and some hold 100 KB strings."""

    def __init__(self, request: M) -> None:
        self.request = request

    def __repr__(self) -> str:
        text = text_format.MessageToString(self.request, as_one_line=True, as_utf8=True)
        text = re.sub(r"(.)\1{15,}", lambda run: f"{run.group(1)}<*{len(run.group(0))}>", text)
        return f"<{type(self.request).__name__} {text[:1500]}>"


def shown(strategy: st.SearchStrategy[M]) -> st.SearchStrategy[Shown[M]]:
    return strategy.map(Shown)


def sized_text(low: int, high: int) -> st.SearchStrategy[str]:
    """Long strings cheaply: one character repeated (hypothesis would take long to draw them)."""
    return st.builds(lambda n, char: char * n, st.integers(low, high), st.sampled_from("xé\U0001f600"))


def _insert(text: str, odd: str) -> str:
    return text[: len(text) // 2] + odd + text[len(text) // 2 :]


def names() -> st.SearchStrategy[str]:
    """Component names, instance ids, flow keys: fine ones and every way of being malformed."""
    odd = st.text(st.characters(categories=_ODD_CATEGORIES, codec="utf-8"), min_size=1, max_size=3)
    return st.one_of(
        st.sampled_from(TRICKY_NAMES),
        st.text(st.characters(codec="utf-8"), max_size=30),
        st.builds(_insert, st.text(max_size=10), odd),
        st.text("abcXYZ019-_.", min_size=250, max_size=262),
        sized_text(257, 100_000),
    )


def fine_ids() -> st.SearchStrategy[str]:
    """Ids any server must take: letters, digits, punctuation and symbols of any script."""
    return st.text(st.characters(categories=("L", "M", "N", "P", "S")), min_size=1, max_size=40)


def mostly(usual: st.SearchStrategy[T], odd: st.SearchStrategy[T], odds: int = 4) -> st.SearchStrategy[T]:
    """`odd` about once in `odds` draws, `usual` otherwise.

    one_of would not do: hypothesis steers away from repeated examples, so it
    picks the branch with the most variety (a long random name) far more often
    than a branch of one value (the app's component name).
    """
    # The odd branch is the last choice: hypothesis starts from (and shrinks toward) the first.
    return st.sampled_from(range(odds)).flatmap(lambda pick: odd if pick == odds - 1 else usual)


def instance_ids() -> st.SearchStrategy[str]:
    return mostly(st.one_of(st.sampled_from(LIVE_IDS), fine_ids()), names(), odds=3)


def components() -> st.SearchStrategy[str]:
    return mostly(st.just(COMPONENT), st.one_of(st.sampled_from(["echo", "Echo "]), names()), odds=6)


def flows() -> st.SearchStrategy[str]:
    return mostly(st.sampled_from(FLOWS_OF[COMPONENT]), names(), odds=6)


def refs() -> st.SearchStrategy[pb.InstanceRef]:
    return st.builds(lambda c, i: pb.InstanceRef(component=c, instance_id=i), components(), instance_ids())


def _numbers() -> st.SearchStrategy[float]:
    return st.one_of(
        st.floats(allow_nan=True, allow_infinity=True),
        st.sampled_from([math.nan, math.inf, -math.inf, -0.0, 2.0**53 + 1, 1e308, 5e-324]),
        st.integers(-(2**63), 2**63).map(float),
    )


def plain_values() -> st.SearchStrategy[Any]:
    """JSON-like Python values (NaN and Infinity included), nested lists and dicts."""
    scalars = st.one_of(
        st.none(), st.booleans(), mostly(st.floats(allow_nan=False), _numbers()), st.text(max_size=20)
    )
    keys = st.one_of(st.sampled_from(MISCHIEF), st.text(max_size=12))
    return st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4),
        max_leaves=12,
    )


def nested(depth: int, leaf: Any = "leaf") -> Any:
    """A value `depth` levels deep, alternating lists and dicts."""
    value = leaf
    for level in range(depth):
        value = [value] if level % 2 else {"d": value}
    return value


def props(huge: bool = False) -> st.SearchStrategy[dict[str, Any]]:
    """The props of a run: special keys that make the app's ops misbehave, deep and huge values."""
    keys = mostly(
        st.text(max_size=12), st.one_of(st.sampled_from(MISCHIEF), sized_text(1000, 100_000)), odds=5
    )
    # Deeper than 38 levels does not parse (protobuf's limit): test_wire sends those as bytes.
    deep = st.builds(lambda d: {"deep": nested(d)}, st.integers(1, 38))
    shapes = mostly(st.dictionaries(keys, plain_values(), max_size=5), deep)
    if not huge:
        return shapes
    big = st.builds(lambda text: {"big": text}, sized_text(25_000, (MAX_MESSAGE - 100_000) // 4))
    oversized = st.builds(lambda n: {"big": "x" * n}, st.integers(MAX_MESSAGE + 1, MAX_MESSAGE + 300_000))
    return mostly(shapes, st.one_of(big, oversized), odds=8)


def to_struct(obj: dict[str, Any]) -> struct_pb2.Struct:
    struct = struct_pb2.Struct()
    for key, item in obj.items():
        _fill(struct.fields[key], item)
    return struct


def _fill(value: struct_pb2.Value, obj: Any) -> None:
    if obj is None:
        value.null_value = struct_pb2.NULL_VALUE
    elif isinstance(obj, bool):
        value.bool_value = obj
    elif isinstance(obj, float):
        value.number_value = obj  # NaN and Infinity too: any client can send them
    elif isinstance(obj, str):
        value.string_value = obj
    elif isinstance(obj, dict):
        value.struct_value.SetInParent()
        for key, item in obj.items():
            _fill(value.struct_value.fields[key], item)
    else:
        value.list_value.SetInParent()
        for item in obj:
            _fill(value.list_value.values.add(), item)


def structs(huge: bool = False) -> st.SearchStrategy[struct_pb2.Struct]:
    return props(huge).map(to_struct)


def unpickled_mostly() -> st.SearchStrategy[bytes]:
    """Pickled payloads now and then: refused by a server without --allow-pickle, never loaded."""
    return mostly(st.just(b""), st.binary(min_size=1, max_size=64), odds=16)


def run_requests(huge: bool = False) -> st.SearchStrategy[pb.RunRequest]:
    return st.builds(
        _run_request,
        refs(),
        flows(),
        structs(huge),
        unpickled_mostly(),
        st.fixed_dictionaries({name: st.booleans() for name in RUN_OPTIONS}),
        st.none() | structs(),
    )


def _run_request(
    ref: pb.InstanceRef,
    flow: str,
    props_struct: struct_pb2.Struct,
    pickled: bytes,
    options: dict[str, bool],
    params: struct_pb2.Struct | None,
) -> pb.RunRequest:
    request = pb.RunRequest(instance=ref, flow=flow, props=props_struct, pickled_props=pickled, **options)
    if params is not None:
        request.init_state_params.CopyFrom(params)
    return request


def get_state_requests() -> st.SearchStrategy[pb.GetStateRequest]:
    keys = st.lists(st.one_of(st.sampled_from(["runs", "init_params"]), names()), max_size=4)
    return st.builds(
        lambda ref, wanted, pickle, version_only: pb.GetStateRequest(
            instance=ref, keys=wanted, accept_pickle=pickle, version_only=version_only
        ),
        refs(),
        keys,
        st.booleans(),
        st.booleans(),
    )


def flush_requests() -> st.SearchStrategy[pb.FlushUpdatesRequest]:
    return st.builds(
        lambda ref, flow, since: pb.FlushUpdatesRequest(instance=ref, flow=flow, since_update_id=since),
        refs(),
        st.one_of(st.just(""), flows()),
        mostly(st.just(""), event_ids(), odds=2),
    )


def event_ids() -> st.SearchStrategy[str]:
    digits = st.integers(0, 2**70).map(str)
    return st.one_of(
        st.sampled_from(["", "0-0", "0", "-", "0-", "-0", "1-1", "99999999999999-0", f"{2**64}-0"]),
        st.builds(lambda ms, seq: f"{ms}-{seq}", digits, digits),
        st.sampled_from(
            ["\u0663-\u0660", "\uff11-\uff10", "\u00b2-0", " 1-1", "1-1\n", "1 - 1", "+1-1", "0x1-0"]
        ),
        names(),
    )


def watch_requests() -> st.SearchStrategy[pb.WatchUpdatesRequest]:
    return st.builds(
        lambda ref, after, flow_list, state, create: pb.WatchUpdatesRequest(
            instance=ref, after_event_id=after, flows=flow_list, include_state=state, create_if_missing=create
        ),
        refs(),
        event_ids(),
        st.lists(flows(), max_size=3),
        st.booleans(),
        st.booleans(),
    )


def write_state_requests(huge: bool = False) -> st.SearchStrategy[pb.WriteStateRequest]:
    return st.builds(
        lambda ref, patch, raw: pb.WriteStateRequest(instance=ref, patch=patch, pickled_patch=raw),
        refs(),
        structs(huge),
        unpickled_mostly(),
    )


def list_requests() -> st.SearchStrategy[pb.ListInstancesRequest]:
    token = st.one_of(st.just(""), names(), st.binary(max_size=40).map(lambda raw: raw.hex()))
    return st.builds(
        lambda name, size, page: pb.ListInstancesRequest(component=name, page_size=size, page_token=page),
        components(),
        st.integers(0, 2**32 - 1),
        token,
    )


def delete_requests() -> st.SearchStrategy[pb.DeleteInstanceRequest]:
    return st.builds(lambda ref: pb.DeleteInstanceRequest(instance=ref), refs())


REQUESTS: dict[str, Callable[[], st.SearchStrategy[Any]]] = {
    "Run": run_requests,
    "RunStream": run_requests,
    "GetState": get_state_requests,
    "FlushUpdates": flush_requests,
    "WatchUpdates": watch_requests,
    "WriteState": write_state_requests,
    "DescribeComponents": lambda: st.just(pb.DescribeComponentsRequest()),
    "ListInstances": list_requests,
    "DeleteInstance": delete_requests,
}
assert set(REQUESTS) == set(METHODS)
