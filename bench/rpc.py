"""The gRPC calls the scenarios make, built in one place for ours and the bare server alike."""

from __future__ import annotations

from typing import Any

import grpc
from google.protobuf import struct_pb2

from motion_grpc._proto.motion.v1 import motion_pb2 as pb
from motion_grpc._proto.motion.v1 import motion_pb2_grpc as pb_grpc

RUN_METHOD = "/motion.v1.MotionService/Run"
READY_TIMEOUT = 30.0


def run_request(component: str, instance_id: str, flow: str, props: dict[str, Any]) -> pb.RunRequest:
    struct = struct_pb2.Struct()
    struct.update(props)
    ref = pb.InstanceRef(component=component, instance_id=instance_id)
    return pb.RunRequest(instance=ref, flow=flow, props=struct)


def aio_run_call(
    channel: grpc.aio.Channel,
) -> grpc.aio.UnaryUnaryMultiCallable[pb.RunRequest, pb.RunResponse]:
    """Run as a multicallable: the same client code path for motion-grpc and the bare server."""
    return channel.unary_unary(
        RUN_METHOD,
        request_serializer=pb.RunRequest.SerializeToString,
        response_deserializer=pb.RunResponse.FromString,
    )


def sync_stub(address: str) -> tuple[grpc.Channel, pb_grpc.MotionServiceStub]:
    channel = grpc.insecure_channel(address)
    return channel, pb_grpc.MotionServiceStub(channel)


def aio_stub(channel: grpc.aio.Channel) -> pb_grpc.MotionServiceStub:
    return pb_grpc.MotionServiceStub(channel)


def ref(component: str, instance_id: str) -> pb.InstanceRef:
    return pb.InstanceRef(component=component, instance_id=instance_id)


def state_number(response: pb.GetStateResponse, key: str) -> float:
    return float(response.state.fields[key].number_value)


def wait_ready(address: str, timeout: float = READY_TIMEOUT) -> None:
    """Block until a channel to `address` is ready (raises grpc.FutureTimeoutError)."""
    with grpc.insecure_channel(address) as channel:
        grpc.channel_ready_future(channel).result(timeout=timeout)
