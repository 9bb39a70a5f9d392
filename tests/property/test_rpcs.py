"""Every RPC against hostile but well-formed protobuf requests.

Each answer must carry a status the request allows (see oracle.py), with a
short message saying what to fix; the server must live on; and what comes
back on success must be what went in. The explicit examples pin the known
ways of breaking a server, so the bounded run always tries them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, TypeVar

from google.protobuf import message, struct_pb2
from hypothesis import example, given

from motion_grpc import codec
from motion_grpc._proto.motion.v1 import motion_pb2 as pb
from tests.property import strategies as s
from tests.property.calls import Answer, call, call_to_end, check
from tests.property.oracle import METHODS, OK
from tests.property.server import FuzzServer

T = TypeVar("T")

LIVE = s.LIVE_IDS[0]
HUGE_NAME = "k" * 100_000


def ref(instance_id: str = LIVE, component: str = s.COMPONENT) -> pb.InstanceRef:
    return pb.InstanceRef(component=component, instance_id=instance_id)


def run(props: dict[str, Any] | None = None, **fields: Any) -> pb.RunRequest:
    fields.setdefault("instance", ref())
    fields.setdefault("flow", "echo")
    return pb.RunRequest(props=s.to_struct(props or {}), **fields)


def pin(request: message.Message) -> Callable[[T], T]:
    """An input tried on every run, whatever hypothesis draws."""
    return example(shown=s.Shown(request))


def ask(server: FuzzServer, name: str, request: message.Message) -> Answer:
    """Send a request (a stream is read to its first message) and check the answer."""
    method = METHODS[name]
    answer = call(server.channel, method, request.SerializeToString())
    check(server, method, answer, method.verdict(request))
    return answer


def _parsed(response_type: type[message.Message], data: bytes) -> Any:
    """The parsed response, or None when it nests past what protobuf parses (our deep echoes)."""
    try:
        return response_type.FromString(data)
    except message.DecodeError:
        return None


def _expected_result(request: pb.RunRequest) -> Any:
    props = codec.from_struct(request.props)
    return sorted(props)[:5] if request.flow == "tokens" else props


@given(shown=s.shown(s.run_requests(huge=True)))
@pin(run({"x": math.nan}))
@pin(run({"x": [1.0, {"y": math.inf}]}))
@pin(run({"x": -math.inf}, flush_update=True))
@pin(run(instance=ref("a\u202eb")))
@pin(run(instance=ref("\u200b")))
@pin(run(instance=ref("line\u2028two")))
@pin(run(instance=ref("\ufeffbom")))
@pin(run(instance=ref(HUGE_NAME)))
@pin(run(flow=HUGE_NAME))
@pin(run(instance=ref(component=HUGE_NAME)))
@pin(run({"serve_raise": True}))
@pin(run({"serve_exit": True}))
@pin(run({"update_exit": True}, instance=ref("exit-probe"), flush_update=True))
@pin(run({"big": "x" * (4 * 1024 * 1024 - 200)}))
@pin(run({"big": "x" * (4 * 1024 * 1024 + 1)}))
@pin(run({"deep": s.nested(38)}))
@pin(run({"k": 1.0}, pickled_props=b"\x80\x04garbage"))
def test_run(fuzz_server: FuzzServer, shown: s.Shown[pb.RunRequest]) -> None:
    request = shown.request
    answer = ask(fuzz_server, "Run", request)
    if answer.code == OK and not request.accept_pickle:
        response = _parsed(pb.RunResponse, answer.messages[0])
        if response is not None:
            assert codec.from_value(response.result) == _expected_result(request), "the echo differs"


@given(shown=s.shown(s.run_requests()))
@pin(run({"b": 1.0, "a": 2.0}, flow="tokens"))
@pin(run({"a": 1.0, "serve_raise": True}, flow="tokens"))
@pin(run({"serve_exit": True}, flow="tokens"))
@pin(run({"x": math.nan}, flow="tokens"))
def test_run_stream(fuzz_server: FuzzServer, shown: s.Shown[pb.RunRequest]) -> None:
    request = shown.request
    method = METHODS["RunStream"]
    answer = call_to_end(fuzz_server.channel, method, request.SerializeToString())
    check(fuzz_server, method, answer, method.verdict(request))
    if answer.code == OK and not request.accept_pickle:
        messages = [_parsed(pb.RunStreamResponse, data) for data in answer.messages]
        assert messages and messages[-1] is not None and messages[-1].done, "the stream did not end with done"
        if all(messages) and request.flow == "tokens":
            items = [codec.from_value(m.item) for m in messages if m.HasField("item")]
            assert items == _expected_result(request), "the streamed items differ"


@given(shown=s.shown(s.get_state_requests()))
@pin(pb.GetStateRequest(instance=ref(), keys=[HUGE_NAME]))
@pin(pb.GetStateRequest(instance=ref(), keys=["runs", "nope\u202e"]))
@pin(pb.GetStateRequest(instance=ref("\u2029")))
def test_get_state(fuzz_server: FuzzServer, shown: s.Shown[pb.GetStateRequest]) -> None:
    ask(fuzz_server, "GetState", shown.request)


@given(shown=s.shown(s.flush_requests()))
@pin(pb.FlushUpdatesRequest(instance=ref(), flow=HUGE_NAME))
@pin(pb.FlushUpdatesRequest(instance=ref("\ufeff")))
@pin(pb.FlushUpdatesRequest(instance=ref(), since_update_id="\u00b2-0"))
@pin(pb.FlushUpdatesRequest(instance=ref(), since_update_id="\u0663-\u0660"))
@pin(pb.FlushUpdatesRequest(instance=ref(), since_update_id=f"{2**64}-0"))
@pin(pb.FlushUpdatesRequest(instance=ref(), since_update_id="99999999999999999999-99999999999999999999"))
def test_flush_updates(fuzz_server: FuzzServer, shown: s.Shown[pb.FlushUpdatesRequest]) -> None:
    ask(fuzz_server, "FlushUpdates", shown.request)


@given(shown=s.shown(s.watch_requests()))
@pin(pb.WatchUpdatesRequest(instance=ref(), after_event_id="\u0663-\u0660"))
@pin(pb.WatchUpdatesRequest(instance=ref(), after_event_id="0-0\n"))
@pin(pb.WatchUpdatesRequest(instance=ref(), after_event_id=HUGE_NAME))
@pin(pb.WatchUpdatesRequest(instance=ref(), after_event_id="18446744073709551616-0"))
@pin(pb.WatchUpdatesRequest(instance=ref(), flows=[HUGE_NAME]))
@pin(pb.WatchUpdatesRequest(instance=ref("new\u200b"), create_if_missing=True))
def test_watch_updates(fuzz_server: FuzzServer, shown: s.Shown[pb.WatchUpdatesRequest]) -> None:
    request = shown.request
    answer = ask(fuzz_server, "WatchUpdates", request)
    if answer.code == OK:
        first = pb.WatchUpdatesResponse.FromString(answer.messages[0])
        assert first.WhichOneof("kind") == "progress", "a watch must start with a Progress"


def _patch(**values: Any) -> struct_pb2.Struct:
    return s.to_struct(values)


@given(shown=s.shown(s.write_state_requests(huge=True)))
@pin(pb.WriteStateRequest(instance=ref(), patch=_patch(x=math.nan)))
@pin(pb.WriteStateRequest(instance=ref(), patch=_patch(x={"y": [math.inf]})))
@pin(pb.WriteStateRequest(instance=ref(), pickled_patch=b"\x80\x04garbage"))
@pin(pb.WriteStateRequest(instance=ref("\u202e"), patch=_patch(x=1.0)))
def test_write_state(fuzz_server: FuzzServer, shown: s.Shown[pb.WriteStateRequest]) -> None:
    ask(fuzz_server, "WriteState", shown.request)


@given(shown=s.shown(s.list_requests()))
@pin(pb.ListInstancesRequest(component=HUGE_NAME))
@pin(pb.ListInstancesRequest(component=s.COMPONENT, page_token="\u202e" * 1000))
@pin(pb.ListInstancesRequest(component=s.COMPONENT, page_size=2**32 - 1))
def test_list_instances(fuzz_server: FuzzServer, shown: s.Shown[pb.ListInstancesRequest]) -> None:
    ask(fuzz_server, "ListInstances", shown.request)


@given(shown=s.shown(s.delete_requests()))
@pin(pb.DeleteInstanceRequest(instance=ref("\u2028")))
@pin(pb.DeleteInstanceRequest(instance=ref(HUGE_NAME)))
def test_delete_instance(fuzz_server: FuzzServer, shown: s.Shown[pb.DeleteInstanceRequest]) -> None:
    ask(fuzz_server, "DeleteInstance", shown.request)
