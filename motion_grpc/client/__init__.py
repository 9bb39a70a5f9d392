"""Python clients (blocking and asyncio) over the generated stubs."""

from motion_grpc.client._messages import FlushOutcome, RunOutcome
from motion_grpc.client._stream_messages import WatchEvent, WatchProgress
from motion_grpc.client._streams import AsyncRunStream, AsyncWatch, RunStream, Watch
from motion_grpc.client.aio import AsyncInstanceHandle, AsyncMotionClient
from motion_grpc.client.sync import InstanceHandle, MotionClient

__all__ = [
    "AsyncInstanceHandle",
    "AsyncMotionClient",
    "AsyncRunStream",
    "AsyncWatch",
    "FlushOutcome",
    "InstanceHandle",
    "MotionClient",
    "RunOutcome",
    "RunStream",
    "Watch",
    "WatchEvent",
    "WatchProgress",
]
