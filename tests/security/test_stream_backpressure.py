"""RunStream backpressure: a generator whose client does not read is not pulled ahead.

The serve ops below yield 256 KiB items and count each one in a file the test
reads (a side channel: the stream itself is not being read). While the client
reads nothing, only the few items gRPC's flow control holds may be produced,
the server's memory stays flat, and it keeps answering other calls; once the
client reads, it gets every item in order.
"""

from __future__ import annotations

import pathlib
import time
from collections.abc import Iterator

import grpc
import pytest

from motion_grpc import MotionClient
from motion_grpc._proto.motion.v1 import motion_pb2 as pb
from motion_grpc._proto.motion.v1 import motion_pb2_grpc
from tests.helpers import TEST_APP, ServerProcess, assert_eventually, unique

ITEMS = 200
ITEM_CHARS = 256 * 1024
#: Items a stalled stream may have produced: the one being written (the client's window, fixed
#: at gRPC's 64 KiB by turning BDP probing off, holds less than one) and the next in hand;
#: without backpressure it is all ITEMS.
MOST_AHEAD = 3
#: RSS growth allowed while the stream stalls (allocator slack); without backpressure it is
#: ITEMS x 256 KiB, twice (item and encoded message), about 100 MB.
MOST_RSS_GROWTH = 10 * 1024 * 1024
STALL_SECONDS = 3.0

APP = """
from motion_grpc import Component

Firehose = Component("Firehose", cache_ttl=0)


@Firehose.init_state
def setup():
    return {"streams": 0}


def _count(props, i):
    with open(props["counter"], "w") as counter:  # the items produced so far, for the test to read
        counter.write(str(i + 1))


@Firehose.serve("sync")
def sync_items(state, props):
    for i in range(props["n"]):
        _count(props, i)
        yield {"i": i, "pad": "x" * props["chars"]}


@Firehose.serve("async")
async def async_items(state, props):
    for i in range(props["n"]):
        _count(props, i)
        yield {"i": i, "pad": "x" * props["chars"]}


@Firehose.update(["sync", "async"])
def count_stream(state, props):
    return {"streams": state["streams"] + 1}
"""


@pytest.fixture(scope="module")
def server(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    app = tmp_path_factory.mktemp("firehose") / "firehose.py"
    app.write_text(APP, encoding="utf-8")
    args = ["--max-message-bytes", str(2 * ITEM_CHARS)]
    with ServerProcess(apps=[str(app), TEST_APP], redis_url=redis_url, args=args) as process:
        yield process


def _rss(process: ServerProcess) -> int:
    assert process.process is not None
    status = pathlib.Path(f"/proc/{process.process.pid}/status").read_text(encoding="ascii")
    line = next(line for line in status.splitlines() if line.startswith("VmRSS:"))
    return int(line.split()[1]) * 1024


def _produced(counter: pathlib.Path) -> int:
    text = counter.read_text(encoding="ascii") if counter.exists() else ""
    return int(text or 0)


def _request(flow: str, items: int, counter: pathlib.Path) -> pb.RunRequest:
    request = pb.RunRequest(instance=pb.InstanceRef(component="Firehose", instance_id=unique()), flow=flow)
    request.props.update({"n": items, "chars": ITEM_CHARS, "counter": str(counter)})
    return request


@pytest.mark.parametrize("flow", ["sync", "async"])
def test_an_unread_stream_does_not_pull_its_generator_ahead(
    server: ServerProcess, tmp_path: pathlib.Path, flow: str
) -> None:
    counter = tmp_path / "produced"
    # BDP probing would grow the client's window to megabytes as it pleases: the bound is exact
    # only with the window fixed.
    options = [("grpc.max_receive_message_length", 2 * ITEM_CHARS), ("grpc.http2.bdp_probe", 0)]
    with (
        grpc.insecure_channel(server.target, options=options) as channel,
        MotionClient(server.target) as other,
    ):
        stub = motion_pb2_grpc.MotionServiceStub(channel)
        list(stub.RunStream(_request(flow, 2, tmp_path / "warm"), timeout=60))  # threads and buffers exist
        rss_before = _rss(server)
        stream = stub.RunStream(_request(flow, ITEMS, counter), timeout=60)
        assert_eventually(lambda: _produced(counter) > 0)  # the call is open and the generator began
        stalled_until = time.monotonic() + STALL_SECONDS
        while time.monotonic() < stalled_until:  # meanwhile, others are served
            assert other.instance("Ledger", unique()).run("append", {"i": 1}, flush_update=True) == 0
        ahead, growth = _produced(counter), _rss(server) - rss_before
        assert ahead <= MOST_AHEAD, f"{ahead} items produced for a client that read none"
        assert growth <= MOST_RSS_GROWTH, f"RSS grew {growth} bytes for one unread stream"
        messages = list(stream)
    items = [m.item.struct_value["i"] for m in messages if not m.done]
    assert items == list(range(ITEMS))
    assert messages[-1].done and len(messages[-1].update_ids) == 1
