"""The servicer's rule for where a request is decoded: on a thread past DECODE_HERE_BYTES, so a
million small values hold up no other call (tests/integration/test_hostile_input.py sends such
requests through every RPC that takes them)."""

from __future__ import annotations

import asyncio
import threading

from motion_grpc._proto.motion.v1 import motion_pb2 as pb
from motion_grpc.server.servicer import DECODE_HERE_BYTES, _off_the_loop_if_large


def test_a_request_past_the_limit_is_decoded_on_another_thread_and_a_small_one_on_the_loop() -> None:
    small = pb.RunRequest(flow="f", pickled_props=b"x" * (DECODE_HERE_BYTES - 100))
    large = pb.RunRequest(flow="f", pickled_props=b"x" * (DECODE_HERE_BYTES + 1))

    async def main() -> tuple[int, int, int]:
        here = await _off_the_loop_if_large(small, threading.get_ident)
        there = await _off_the_loop_if_large(large, threading.get_ident)
        return threading.get_ident(), here, there

    loop_thread, here, there = asyncio.run(main())
    assert here == loop_thread and there != loop_thread
