"""Idle pickup: from enqueue to the start of the update op, while the workers are idle.

The `Pickup` component's serve op returns time.time() (taken just before the
update is enqueued) and its update op stores how long it waited; between
samples the instance stays idle. Motion runs the same component in-process.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

from bench.env import Env, run_motion_task
from bench.report import Figure
from bench.rpc import ref, run_request, state_number, sync_stub
from bench.scenarios._common import OURS, FigureSpec, Scenario, Side, figures, interleave
from bench.stats import Recorder
from motion_grpc._proto.motion.v1 import motion_pb2 as pb

NAME = "pickup"
IDLE = 0.02  # seconds between samples, so each update finds the workers idle
RPC_TIMEOUT = 30.0


def _pickup(address: str, instance_id: str, samples: int) -> Mapping[str, float]:
    channel, stub = sync_stub(address)
    instance = ref("Pickup", instance_id)
    recorder = Recorder()
    with channel:
        for i in range(samples):
            time.sleep(IDLE)
            stub.Run(run_request("Pickup", instance_id, "stamp", {"i": i}), timeout=RPC_TIMEOUT)
            stub.FlushUpdates(pb.FlushUpdatesRequest(instance=instance), timeout=RPC_TIMEOUT)
            reply = stub.GetState(pb.GetStateRequest(instance=instance, keys=["waited"]), timeout=RPC_TIMEOUT)
            recorder.add(state_number(reply, "waited"))
    return recorder.summary().as_ms()


def run(env: Env) -> list[Figure]:
    samples = env.profile.pickup_samples
    sides = {
        OURS: Side("motion-grpc", lambda: _pickup(env.motion_grpc(), env.unique("pickup"), samples)),
        "motion": Side("Motion 0.1.132 in-process", lambda: run_motion_task(env, "pickup", samples=samples)),
    }
    interleave(env.profile.rounds, sides)
    specs = [
        FigureSpec(
            "idle pickup p50 (enqueue → update start)", "ms", "p50_ms", "motion", target="p50 <= 2 ms"
        ),
        FigureSpec("idle pickup p99", "ms", "p99_ms", "motion"),
    ]
    return figures(NAME, specs, sides)


SCENARIO = Scenario(NAME, "enqueue-to-update-start latency while idle", run)
