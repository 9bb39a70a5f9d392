"""The limits: bare gRPC servers answering Run with a canned reply of a real reply's size.

They are called exactly like motion-grpc (same method path, same client code,
the same request) and do nothing else: no thread hop of their own, no
protobuf parsing of the reply (identity bytes serializers). Two servers,
because which is faster depends on the machine and the load:

- `--server sync`: grpcio's thread-pool server; the handler runs on grpc's
  own pool thread and answers there.
- `--server aio`: grpc.aio; the handler answers on the event loop.

With `--redis URL` each call also makes the one round trip any design that
durably enqueues before answering must pay: it reads the instance out of
the request and runs one Lua script that appends to the instance's stream
(XADD) and bumps its sequence (HINCRBY), like a real enqueue. The sync
server uses redis-py; the aio server motion-grpc's own auto-pipelined client.

With `--model-calls` (aio, with `--redis`) it is the limit of the LLM-shaped
rows instead: the least any server must do for bench/llm_users.py's users.
Run of flow `chat` waits like the serve op (SERVE_SECONDS), enqueues, answers,
and starts the update: a wait like the update op (UPDATE_SECONDS), then one
round trip that records its end. FlushUpdates waits for the instance's
update; GetState answers the update's end (`summarised_at`); Run of `open`
answers at once. No state, no leases, no ops, and motion-grpc's own channel
options: what is left is gRPC, asyncio and Redis round trips.

    python -m bench.echo_server --port 50100 --server aio [--redis redis://127.0.0.1:6379/7] [--model-calls]
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor

import grpc
import redis
from google.protobuf import struct_pb2

from bench.apps.llm_ops import SERVE_SECONDS, UPDATE_SECONDS
from motion_grpc._proto.motion.v1 import motion_pb2 as pb
from motion_grpc.server.limits import Limits
from motion_grpc.store.pipelined import PipelinedRedis

SERVICE = "motion.v1.MotionService"
SERVERS = ("sync", "aio")
#: Entries kept per instance stream: the bench's Redis must not grow with the calls.
STREAM_MAXLEN = 1000

# As motion-grpc answers Run on the trivial component: a number, a version, one update id.
REPLY = pb.RunResponse(
    result=struct_pb2.Value(number_value=12345.0), version=1234, update_ids=["1795533376874-0"]
).SerializeToString()

ENQUEUE = """
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'props', ARGV[2])
redis.call('HINCRBY', KEYS[2], 'seq', 1)
return id
"""


def enqueue_keys(request: bytes) -> tuple[str, str]:
    """The stream and the hash of the request's instance (one hash tag, as motion-grpc's keys)."""
    ref = pb.RunRequest.FromString(request).instance
    tag = f"{{echo:{ref.component}:{ref.instance_id}}}"
    return f"{tag}:queue", f"{tag}:meta"


def _generic(run: Callable[..., object]) -> grpc.GenericRpcHandler[bytes, bytes]:
    # No serializers: request and reply stay bytes.
    return grpc.method_handlers_generic_handler(SERVICE, {"Run": grpc.unary_unary_rpc_method_handler(run)})


def sync_handler(redis_url: str | None) -> grpc.GenericRpcHandler[bytes, bytes]:
    if redis_url is None:
        return _generic(lambda _request, _context: REPLY)
    script = redis.Redis.from_url(redis_url).register_script(ENQUEUE)

    def run(request: bytes, _context: grpc.ServicerContext) -> bytes:
        script(keys=enqueue_keys(request), args=[STREAM_MAXLEN, request])
        return REPLY

    return _generic(run)


async def aio_handler(redis_url: str | None) -> grpc.GenericRpcHandler[bytes, bytes]:
    if redis_url is None:

        async def answer(_request: bytes, _context: grpc.aio.ServicerContext[bytes, bytes]) -> bytes:
            return REPLY

        return _generic(answer)
    client = PipelinedRedis(redis_url)
    sha = await client.script_load(ENQUEUE)

    async def run(request: bytes, _context: grpc.aio.ServicerContext[bytes, bytes]) -> bytes:
        await client.evalsha(sha, 2, *enqueue_keys(request), STREAM_MAXLEN, request)
        return REPLY

    return _generic(run)


COMMIT = "redis.call('HSET', KEYS[1], 'applied_at', ARGV[1]) return 1"


class ModelCalls:
    """The least a server of the LLM-shaped users must do (see `--model-calls`)."""

    def __init__(self, client: PipelinedRedis, enqueue_sha: str, commit_sha: str) -> None:
        self._client = client
        self._enqueue, self._commit = enqueue_sha, commit_sha
        self._updates: dict[str, asyncio.Task[float]] = {}

    def handler(self) -> grpc.GenericRpcHandler[bytes, bytes]:
        methods = {
            "Run": grpc.unary_unary_rpc_method_handler(self.run),
            "FlushUpdates": grpc.unary_unary_rpc_method_handler(self.flush),
            "GetState": grpc.unary_unary_rpc_method_handler(self.get_state),
        }
        return grpc.method_handlers_generic_handler(SERVICE, methods)

    async def run(self, request: bytes, _context: grpc.aio.ServicerContext[bytes, bytes]) -> bytes:
        run = pb.RunRequest.FromString(request)
        if run.flow != "chat":
            return REPLY
        await asyncio.sleep(SERVE_SECONDS)
        queue, meta = enqueue_keys(request)
        await self._client.evalsha(self._enqueue, 2, queue, meta, STREAM_MAXLEN, request)
        self._updates[run.instance.instance_id] = asyncio.create_task(self._update(meta))
        return REPLY

    async def _update(self, meta: str) -> float:
        await asyncio.sleep(UPDATE_SECONDS)
        applied_at = time.time()
        await self._client.evalsha(self._commit, 1, meta, applied_at)
        return applied_at

    async def flush(self, request: bytes, _context: grpc.aio.ServicerContext[bytes, bytes]) -> bytes:
        update = self._updates.get(pb.FlushUpdatesRequest.FromString(request).instance.instance_id)
        if update is not None:
            await update
        return pb.FlushUpdatesResponse(version=2).SerializeToString()

    async def get_state(self, request: bytes, _context: grpc.aio.ServicerContext[bytes, bytes]) -> bytes:
        update = self._updates.pop(pb.GetStateRequest.FromString(request).instance.instance_id, None)
        reply = pb.GetStateResponse(version=2)
        reply.state.fields["summarised_at"].number_value = (
            update.result() if update and update.done() else 0.0
        )
        return reply.SerializeToString()


def serve_sync(port: int, threads: int, redis_url: str | None) -> None:
    server = grpc.server(ThreadPoolExecutor(threads, thread_name_prefix="echo"))
    server.add_generic_rpc_handlers((sync_handler(redis_url),))
    server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    stop.wait()
    server.stop(1.0).wait()


async def serve_aio(port: int, redis_url: str | None, model_calls: bool = False) -> None:
    # With motion-grpc's channel options: gRPC Core's own cap on calls not yet picked up would
    # CANCEL thousands of the model-call users.
    server = grpc.aio.server(options=Limits().grpc_options() if model_calls else [])
    if model_calls:
        if redis_url is None:
            raise SystemExit("--model-calls needs --redis")
        client = PipelinedRedis(redis_url)
        calls = ModelCalls(client, await client.script_load(ENQUEUE), await client.script_load(COMMIT))
        server.add_generic_rpc_handlers((calls.handler(),))
    else:
        server.add_generic_rpc_handlers((await aio_handler(redis_url),))
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    await _until_signalled()
    await server.stop(1.0)


def _until_signalled() -> Awaitable[None]:
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(signum, stop.set)
    return stop.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--server", choices=SERVERS, default="aio")
    parser.add_argument("--threads", type=int, default=16, help="the sync server's thread pool")
    parser.add_argument("--redis", default=None, help="also run the enqueue script on this Redis per call")
    parser.add_argument("--model-calls", action="store_true", help="the LLM-shaped rows' limit (aio only)")
    args = parser.parse_args()
    if args.server == "sync":
        if args.model_calls:
            raise SystemExit("--model-calls needs --server aio")
        serve_sync(args.port, args.threads, args.redis)
    else:
        asyncio.run(serve_aio(args.port, args.redis, args.model_calls))


if __name__ == "__main__":
    main()
