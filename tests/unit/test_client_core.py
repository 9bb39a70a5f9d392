"""The client core without a server: the calls it builds and what it makes of replies.

A channel to a port nobody listens on is real but never used: the core only
builds calls, and these tests hand its decoders replies as a server would
send them.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator

import grpc
import pytest
from google.protobuf import struct_pb2

from motion_grpc import AsyncMotionClient, MotionClient, codec
from motion_grpc._proto.motion.v1 import motion_pb2 as pb
from motion_grpc.client import AsyncInstanceHandle, FlushOutcome, InstanceHandle, RunOutcome
from motion_grpc.client._core import ClientCore, InstanceCore
from motion_grpc.errors import InvalidArgumentError
from tests.helpers import free_port


@pytest.fixture
def channel() -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(f"127.0.0.1:{free_port()}") as unused:
        yield unused


def _instance(channel: grpc.Channel, use_pickle: bool = False) -> InstanceCore:
    return InstanceCore(ClientCore("target", channel, use_pickle), "Ledger", "i-1", {"start": 3})


def _number(value: float) -> struct_pb2.Value:
    return struct_pb2.Value(number_value=value)


def test_a_run_call_carries_the_options_and_decodes_the_reply(channel: grpc.Channel) -> None:
    core = _instance(channel)
    call = core.run_outcome("append", {"i": 1}, ignore_cache=True, flush_update=True, timeout=2.5)
    assert call.rpc is core._stub.Run and call.timeout == 2.5
    request = call.request
    assert isinstance(request, pb.RunRequest)
    assert (request.instance.component, request.instance.instance_id, request.flow) == (
        "Ledger",
        "i-1",
        "append",
    )
    assert (request.ignore_cache, request.force_refresh, request.flush_update) == (True, False, True)
    assert codec.from_struct(request.props) == {"i": 1}
    assert codec.from_struct(request.init_state_params) == {"start": 3}
    reply = pb.RunResponse(result=_number(7), version=4, cached=True, update_ids=["5-0"])
    assert call.result(reply) == RunOutcome(7, 4, True, ["5-0"])
    assert core.run("append").result(reply) == 7  # run answers the serve result alone


def test_a_flush_asks_for_outcomes_since_the_first_unflushed_update(channel: grpc.Channel) -> None:
    core = _instance(channel)
    core.run_outcome("a").result(pb.RunResponse(update_ids=["5-0"]))
    core.run_outcome("b").result(pb.RunResponse(update_ids=["3-1"]))
    core.run_outcome("a", flush_update=True).result(pb.RunResponse(update_ids=["1-0"]))  # reports its own
    assert core.flush("a").request.since_update_id == "5-0"
    flush = core.flush(timeout=1.0)
    assert flush.request.since_update_id == "3-1"
    failed = pb.UpdateOutcome(update_id="3-1", status=pb.UPDATE_STATUS_FAILED)
    assert flush.result(pb.FlushUpdatesResponse(version=9, failed=[failed])) == FlushOutcome(9, [failed])
    assert core.flush().request.since_update_id == ""  # the flush covered both flows


def test_a_streamed_run_counts_as_unflushed_once_its_updates_are_enqueued(channel: grpc.Channel) -> None:
    core = _instance(channel)
    stream = core.stream("tokens", {"n": 2})
    assert stream.rpc is core._stub.RunStream and not stream.request.ignore_cache
    assert stream.state.take(pb.RunStreamResponse(item=_number(0))) == (True, 0)
    assert core.flush().request.since_update_id == ""  # nothing enqueued before the final message
    stream.state.take(pb.RunStreamResponse(done=True, update_ids=["8-0"]))
    assert core.flush().request.since_update_id == "8-0"
    flushed = core.stream("tokens", flush_update=True)
    flushed.state.take(pb.RunStreamResponse(done=True, update_ids=["9-0"]))
    assert core.flush().request.since_update_id == "8-0"  # a flushed stream reports its own updates


def test_pickles_are_loaded_only_with_the_opt_in(channel: grpc.Channel) -> None:
    reply = pb.RunResponse(pickled_result=codec.pickle_dumps({1, 2}))  # as a server sends it
    with pytest.raises(InvalidArgumentError, match="pickle=True"):
        _instance(channel).run("f").result(reply)
    with pytest.raises(InvalidArgumentError, match="pickle=True"):
        _instance(channel).stream("f").state.take(pb.RunStreamResponse(pickled_item=codec.pickle_dumps(1)))
    trusting = _instance(channel, use_pickle=True)
    assert trusting.run("f").result(reply) == {1, 2}
    assert trusting.run("f", {"s": {3}}).request.pickled_props


def test_a_listing_follows_the_page_tokens_to_the_end(channel: grpc.Channel) -> None:
    core = ClientCore("target", channel, False)
    tokens, ids = [], []
    for call in core.instance_pages("Ledger", 2):
        tokens.append(call.request.page_token)
        assert call.request.page_size == 2
        following = {"": "t1", "t1": "t2", "t2": ""}[call.request.page_token]
        ids += call.result(pb.ListInstancesResponse(instance_ids=[f"i{len(ids)}"], next_page_token=following))
    assert (tokens, ids) == (["", "t1", "t2"], ["i0", "i1", "i2"])


def _public(cls: type) -> dict[str, inspect.Signature | str]:
    def shape(value: object) -> inspect.Signature | str:
        return "property" if isinstance(value, property) else inspect.signature(value)  # type: ignore[arg-type]

    return {name: shape(value) for name, value in vars(cls).items() if not name.startswith("_")}


@pytest.mark.parametrize(
    ("blocking", "awaited", "own"),
    [
        (InstanceHandle, AsyncInstanceHandle, {"version"}),
        (MotionClient, AsyncMotionClient, {"close", "wait_ready", "list_instances", "instance"}),
    ],
)
def test_the_two_faces_take_the_same_arguments(blocking: type, awaited: type, own: set[str]) -> None:
    """Made from one core, the faces cannot drift apart: same methods, same parameters."""
    sync_api, async_api = _public(blocking), _public(awaited)
    assert set(sync_api) - own == set(async_api) - own
    for name in set(sync_api) - own:
        assert sync_api[name] == async_api[name], name
        assert not inspect.iscoroutinefunction(getattr(blocking, name)), name
