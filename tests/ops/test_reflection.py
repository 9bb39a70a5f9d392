"""gRPC reflection: on by default, so grpcurl and other tools can list and describe the API;
`--no-reflection` turns it off."""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
from collections.abc import Iterator

import grpc
import pytest
from google.protobuf.descriptor_pool import DescriptorPool
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase

from tests.helpers import ServerProcess

MOTION_SERVICE = "motion.v1.MotionService"


def _grpcurl() -> str | None:
    found = shutil.which("grpcurl")
    gopath_bin = pathlib.Path(os.environ.get("GOPATH", pathlib.Path.home() / "go")) / "bin" / "grpcurl"
    return found or (str(gopath_bin) if gopath_bin.exists() else None)


@pytest.fixture(scope="module")
def reflecting(redis_url: str) -> Iterator[ServerProcess]:
    with ServerProcess(redis_url=redis_url) as process:
        yield process


def test_reflection_lists_and_describes_the_service(reflecting: ServerProcess) -> None:
    with grpc.insecure_channel(reflecting.target) as channel:
        database = ProtoReflectionDescriptorDatabase(channel)
        services = set(database.get_services())
        assert {MOTION_SERVICE, "grpc.health.v1.Health"} <= services
        service = DescriptorPool(database).FindServiceByName(MOTION_SERVICE)
        methods = {method.name for method in service.methods}
        assert {"Run", "GetState", "FlushUpdates", "WatchUpdates"} <= methods
        assert service.methods_by_name["Run"].input_type.fields_by_name["flow"] is not None
        # As `grpcurl describe motion.v1.MotionService.Run` asks: the file of a method's service.
        assert database.FindFileContainingSymbol(f"{MOTION_SERVICE}.Run").name == "motion/v1/motion.proto"


def test_no_reflection_turns_it_off(redis_url: str) -> None:
    with (
        ServerProcess(redis_url=redis_url, args=["--no-reflection"]) as process,
        grpc.insecure_channel(process.target) as channel,
    ):
        with pytest.raises(grpc.RpcError) as caught:
            ProtoReflectionDescriptorDatabase(channel).get_services()
        assert caught.value.code() == grpc.StatusCode.UNIMPLEMENTED


def test_grpcurl_lists_and_describes(reflecting: ServerProcess) -> None:
    grpcurl = _grpcurl()
    if grpcurl is None:
        pytest.skip(
            "grpcurl is not installed (CI installs it: "
            "go install github.com/fullstorydev/grpcurl/cmd/grpcurl@latest)"
        )
    listed = subprocess.run(
        [grpcurl, "-plaintext", reflecting.target, "list"],
        check=False,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert listed.returncode == 0, listed.stderr
    assert MOTION_SERVICE in listed.stdout.split()
    described = subprocess.run(
        [grpcurl, "-plaintext", reflecting.target, "describe", f"{MOTION_SERVICE}.Run"],
        check=False, capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert described.returncode == 0, described.stderr
    assert "rpc Run ( .motion.v1.RunRequest ) returns ( .motion.v1.RunResponse )" in described.stdout
