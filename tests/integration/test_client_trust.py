"""The Python clients load pickles from a server only when their caller opted in with pickle=True.

A fake MotionService answers every call with a pickle whose loading would
create a marker directory: a client without pickle=True must refuse it, and
the marker must never appear. Against the real server, pickle=True still
carries values that JSON cannot.
"""

from __future__ import annotations

import asyncio
import os
import pathlib
from collections.abc import Iterator
from typing import Any

import pytest

from motion_grpc import AsyncMotionClient, MotionClient
from motion_grpc._proto.motion.v1 import motion_pb2 as pb
from motion_grpc._proto.motion.v1 import motion_pb2_grpc
from motion_grpc.codec import pickle_dumps
from motion_grpc.errors import InvalidArgumentError
from tests.helpers import ROOT, TEST_APP, ServerProcess, fake_motion_server, unique

STREAM_APP = str(ROOT / "tests" / "apps" / "streamapp.py")


class _Payload:
    """Loading its pickle calls os.mkdir(marker): code the server chose, run on the client."""

    def __init__(self, marker: pathlib.Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return os.mkdir, (str(self.marker),)


class _PicklingService(motion_pb2_grpc.MotionServiceServicer):
    """A fake server that answers Run, RunStream and GetState with the payload, asked or not."""

    def __init__(self, marker: pathlib.Path) -> None:
        self.payload = pickle_dumps(_Payload(marker))  # as a server sends pickles on the wire

    def Run(self, request: pb.RunRequest, context: Any) -> pb.RunResponse:
        return pb.RunResponse(pickled_result=self.payload, version=1)

    def RunStream(self, request: pb.RunRequest, context: Any) -> Iterator[pb.RunStreamResponse]:
        yield pb.RunStreamResponse(pickled_item=self.payload, version=1)
        yield pb.RunStreamResponse(done=True, version=1)

    def GetState(self, request: pb.GetStateRequest, context: Any) -> pb.GetStateResponse:
        return pb.GetStateResponse(pickled_state={"summary": self.payload}, version=1)


@pytest.fixture
def marker(tmp_path: pathlib.Path) -> pathlib.Path:
    return tmp_path / "client-ran-server-code"


@pytest.fixture
def fake_server(marker: pathlib.Path) -> Iterator[str]:
    with fake_motion_server(_PicklingService(marker)) as target:
        yield target


def test_sync_client_refuses_pickles_it_did_not_ask_for(fake_server: str, marker: pathlib.Path) -> None:
    with MotionClient(fake_server) as client:
        handle = client.instance("Any", unique())
        with pytest.raises(InvalidArgumentError, match="pickle=True"):
            handle.run("flow")
        with pytest.raises(InvalidArgumentError, match="pickle=True"):
            handle.get_state()
        with pytest.raises(InvalidArgumentError, match="pickle=True"), handle.stream("flow") as items:
            list(items)
    assert not marker.exists()


def test_async_client_refuses_pickles_it_did_not_ask_for(fake_server: str, marker: pathlib.Path) -> None:
    async def main() -> None:
        async with AsyncMotionClient(fake_server) as client:
            handle = client.instance("Any", unique())
            with pytest.raises(InvalidArgumentError, match="pickle=True"):
                await handle.run_outcome("flow")
            with pytest.raises(InvalidArgumentError, match="pickle=True"):
                await handle.get_state(["summary"])
            stream = handle.stream("flow")
            with pytest.raises(InvalidArgumentError, match="pickle=True"):
                async for _ in stream:
                    pass
            stream.cancel()

    asyncio.run(main())
    assert not marker.exists()


def test_a_client_that_opted_in_loads_the_fake_servers_pickle(fake_server: str, marker: pathlib.Path) -> None:
    """The control: the payload does run when loaded, so the refusals above are what kept it out."""
    with MotionClient(fake_server, pickle=True) as client:
        client.instance("Any", unique()).run("flow")
    assert marker.is_dir()


PICKLE_KEY = "pickle-client-key-0123456789"


@pytest.fixture(scope="module")
def pickle_server(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    keys = tmp_path_factory.mktemp("keys") / "keys"
    keys.write_text(f"client {PICKLE_KEY}\n")  # --allow-pickle needs authenticated callers
    args = ["--allow-pickle", "--api-key-file", str(keys)]
    with ServerProcess(apps=[TEST_APP, STREAM_APP], redis_url=redis_url, args=args) as process:
        yield process


def test_pickle_true_carries_python_values_with_the_real_server(pickle_server: ServerProcess) -> None:
    big = 2**70  # beyond a protobuf double: exact only through the pickle path
    with MotionClient(pickle_server.target, pickle=True, api_key=PICKLE_KEY) as client:
        ledger = client.instance("Ledger", unique())
        assert ledger.run("append", {"i": big}, flush_update=True) == 0
        assert ledger.get_state() == {"items": [big]}
        assert client.instance("Faulty", unique()).run("go", {"unencodable": True}) == {1, 2, 3}
        with client.instance("Tokens", unique()).stream("tokens", {"n": 2}) as items:
            assert list(items) == [{"i": 0, "count": 0}, {"i": 1, "count": 0}]


def test_pickle_true_with_the_asyncio_client(pickle_server: ServerProcess) -> None:
    async def main() -> None:
        async with AsyncMotionClient(pickle_server.target, pickle=True, api_key=PICKLE_KEY) as client:
            ledger = client.instance("Ledger", unique())
            assert await ledger.run("append", {"i": {1, 2}}, flush_update=True) == 0
            assert await ledger.get_state(["items"]) == {"items": [{1, 2}]}
            items = [item async for item in client.instance("Tokens", unique()).stream("atokens", {"n": 1})]
            assert items == [{"i": 0, "count": 0}]

    asyncio.run(main())
