"""The limit: a bare grpc.aio server answering Run with a canned reply of a real reply's size.

It is called exactly like motion-grpc (same method path, same client code, the
same request), its handler hops onto a thread pool of the same size as
motion-grpc's serve pool, and it does nothing else: no protobuf parsing
(identity bytes serializers), no Redis.

    python -m bench.echo_server --port 50100 --threads 16
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from concurrent.futures import ThreadPoolExecutor

import grpc
from google.protobuf import struct_pb2

from motion_grpc._proto.motion.v1 import motion_pb2 as pb

SERVICE = "motion.v1.MotionService"

# As motion-grpc answers Run on the trivial component: a number, a version, one update id.
REPLY = pb.RunResponse(
    result=struct_pb2.Value(number_value=12345.0), version=1234, update_ids=["1795533376874-0"]
).SerializeToString()


def _answer(_request: bytes) -> bytes:
    return REPLY


def handler(pool: ThreadPoolExecutor) -> grpc.GenericRpcHandler[bytes, bytes]:
    async def run(request: bytes, _context: grpc.aio.ServicerContext[bytes, bytes]) -> bytes:
        return await asyncio.get_running_loop().run_in_executor(pool, _answer, request)

    # No serializers: request and reply stay bytes.
    return grpc.method_handlers_generic_handler(SERVICE, {"Run": grpc.unary_unary_rpc_method_handler(run)})


async def serve(port: int, threads: int) -> None:
    pool = ThreadPoolExecutor(threads, thread_name_prefix="echo")
    server = grpc.aio.server()
    server.add_generic_rpc_handlers((handler(pool),))
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(signum, stop.set)
    await stop.wait()
    await server.stop(1.0)
    pool.shutdown(wait=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--threads", type=int, default=16)
    args = parser.parse_args()
    asyncio.run(serve(args.port, args.threads))


if __name__ == "__main__":
    main()
