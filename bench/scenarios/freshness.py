"""Freshness across replicas: from Run returning on replica A to its update visible in GetState on B.

Both replicas share one Redis. Each sample runs the flow once on A (adding 1)
and then polls GetState on B until the new value shows.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

from bench.env import Env
from bench.report import Figure
from bench.rpc import ref, run_request, state_number, sync_stub
from bench.scenarios._common import OURS, FigureSpec, Scenario, Side, figures, interleave
from bench.stats import Recorder
from motion_grpc._proto.motion.v1 import motion_pb2 as pb

NAME = "freshness"
IDLE = 0.005
RPC_TIMEOUT = 30.0
VISIBLE_TIMEOUT = 30.0


def _freshness(writer: str, reader: str, instance_id: str, samples: int) -> Mapping[str, float]:
    (write_channel, write), (read_channel, read) = sync_stub(writer), sync_stub(reader)
    request = pb.GetStateRequest(instance=ref("Trivial", instance_id), keys=["value"])
    recorder = Recorder()
    with write_channel, read_channel:
        write.Run(run_request("Trivial", instance_id, "add", {"value": 0, "i": -1}), timeout=RPC_TIMEOUT)
        write.FlushUpdates(pb.FlushUpdatesRequest(instance=request.instance), timeout=RPC_TIMEOUT)
        base = state_number(read.GetState(request, timeout=RPC_TIMEOUT), "value")
        for i in range(samples):
            time.sleep(IDLE)
            write.Run(run_request("Trivial", instance_id, "add", {"value": 1, "i": i}), timeout=RPC_TIMEOUT)
            returned = time.perf_counter()
            deadline = returned + VISIBLE_TIMEOUT
            while state_number(read.GetState(request, timeout=RPC_TIMEOUT), "value") < base + i + 1:
                if time.perf_counter() > deadline:
                    raise TimeoutError(f"update {i} not visible on the second replica")
            recorder.add(time.perf_counter() - returned)
    return recorder.summary().as_ms()


def run(env: Env) -> list[Figure]:
    samples = env.profile.freshness_samples
    sides = {
        OURS: Side(
            "motion-grpc",
            lambda: _freshness(env.motion_grpc(0), env.motion_grpc(1), env.unique("fresh"), samples),
        ),
    }
    interleave(env.profile.rounds, sides)
    specs = [
        FigureSpec(
            "freshness p50 (Run on A → GetState on B)",
            "ms",
            "p50_ms",
            target="p50 <= 5 ms",
            note="includes the update's pickup and commit; no Motion equivalent (no replicas)",
        ),
        FigureSpec("freshness p99", "ms", "p99_ms"),
    ]
    return figures(NAME, specs, sides)


SCENARIO = Scenario(NAME, "state visible on a second replica after Run returns", run)
