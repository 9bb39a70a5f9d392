"""OpenTelemetry: a span per RPC, serve op and update op, and one trace from a Run on one replica to
the update another replica applies (the traceparent rides with the queue entry through Redis)."""

from __future__ import annotations

import asyncio
import pathlib
import subprocess

import grpc
import pytest

pytest.importorskip("opentelemetry.sdk", reason="tracing tests need opentelemetry-sdk (the dev extra)")

from google.protobuf import struct_pb2
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from motion_grpc._proto.motion.v1 import motion_pb2 as pb
from motion_grpc._proto.motion.v1 import motion_pb2_grpc
from motion_grpc.engine import EngineSettings
from motion_grpc.observability import tracing
from motion_grpc.server import ServerOptions, create_server, load_components
from motion_grpc.store import RedisServer, RedisSettings
from tests.helpers import MOTION_GRPC, TEST_APP, clean_env, unique

#: What a traced caller sends: its trace id and span id, sampled.
CALLER_TRACE = "0af7651916cd43dd8448eb211c80319c"
CALLER_SPAN = "b7ad6b7169203331"


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    tracing.enable(provider)
    yield spans
    tracing.disable()


def test_one_trace_from_a_run_to_its_update_on_another_replica(exporter: InMemorySpanExporter) -> None:
    instance_id = unique("traced")
    # A Redis of its own: a session server hosting Ledger on the shared one could apply the update.
    with RedisServer(appendonly=False) as redis:
        asyncio.run(_run_on_a_applied_on_b(redis.url, instance_id))
    spans = {span.name: span for span in exporter.get_finished_spans()}
    run = spans["motion.v1.MotionService/Run"]
    serve = spans["serve Ledger/append/ledger_size"]
    update = spans["update Ledger/append/ledger_append"]
    assert f"{run.context.trace_id:032x}" == CALLER_TRACE
    assert run.parent is not None and f"{run.parent.span_id:016x}" == CALLER_SPAN
    assert _parent_id(serve) == run.context.span_id
    assert update.context.trace_id == run.context.trace_id
    assert _parent_id(update) == run.context.span_id
    assert instance_id not in str(update.attributes)


def test_untraced_entries_and_garbage_prefixes_are_read_as_before() -> None:
    payload = b"\x80\x05payload"
    assert tracing.strip(payload) == payload and tracing.carried(payload) is None
    forged = b"\x00tp\x00" + b"x" * 55 + payload
    assert tracing.carried(forged) is None
    assert tracing.strip(forged) == payload


def _parent_id(span: ReadableSpan) -> int | None:
    return None if span.parent is None else span.parent.span_id


async def _run_on_a_applied_on_b(redis_url: str, instance_id: str) -> None:
    """Run on a replica that only serves; another replica applies the update."""
    components = load_components([TEST_APP])
    redis = RedisSettings(url=redis_url)
    options = ServerOptions(address="127.0.0.1:0")
    serving_only = await create_server(components, redis, options, EngineSettings(process_updates=False))
    applying = await create_server(components, redis, options)
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{serving_only.port}") as channel:
            stub = motion_pb2_grpc.MotionServiceStub(channel)
            ref = pb.InstanceRef(component="Ledger", instance_id=instance_id)
            props = struct_pb2.Struct()
            props.update({"i": 1})
            caller = (("traceparent", f"00-{CALLER_TRACE}-{CALLER_SPAN}-01"),)
            await stub.Run(pb.RunRequest(instance=ref, flow="append", props=props), metadata=caller)
            await stub.FlushUpdates(pb.FlushUpdatesRequest(instance=ref), timeout=30)
    finally:
        await serving_only.stop(0)
        await applying.stop(0)


def test_tracing_without_opentelemetry_is_a_one_line_refusal(tmp_path: pathlib.Path) -> None:
    """`serve --tracing` where the [tracing] extra is missing says what to install, exit 2, and
    leaves no Redis behind."""
    missing = tmp_path / "site" / "opentelemetry"
    missing.mkdir(parents=True)
    (missing / "__init__.py").write_text("raise ImportError('opentelemetry is not installed here')\n")
    env = clean_env(PYTHONPATH=str(missing.parent))
    data_dir = str(tmp_path / "data")
    for processes in ("1", "2"):
        command = [MOTION_GRPC, "serve", TEST_APP, "--tracing", "--port", "0", "--data-dir", data_dir,
                   "--processes", processes, "--reuse-port"]  # fmt: skip
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60, check=False)
        assert done.returncode == 2, done.stderr
        assert done.stderr.count("pip install 'motion-grpc[tracing]'") == 1
        assert "Traceback" not in done.stderr
