"""Serve latency while a CPU-bound update op runs on the same instance's server.

A burner client keeps enqueueing 20 ms pure-Python update ops (they hold the
GIL of whatever process runs them) while another client times serve-only Runs.
The burner runs in a process of its own ("spawn"): in the timing client's
process its gRPC calls would share that client's GIL and inflate the very
latency measured. The same is measured on a server running its updates in a
worker process (`--update-processes 1`). The baseline is the idle serve p99 of
the same server, over the same number of samples (at least MIN_SAMPLES, so a
p99 is not merely the slowest call).

With `--update-processes 1` a second baseline keeps the burner's Runs, at the
same pace, but makes its update ops take 0 ms: what is left between it and the
burning figure is what the CPU-bound ops cost the serves, apart from the Runs
and commits that enqueue and end them (on two cores those share a core with
the timed client, the server and Redis).
"""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Mapping
from multiprocessing.synchronize import Event

from bench.env import Env
from bench.report import Figure
from bench.rpc import ref, run_request, sync_stub
from bench.scenarios._common import OURS, FigureSpec, Scenario, Side, figures, interleave
from bench.stats import Recorder
from motion_grpc._proto.motion.v1 import motion_pb2 as pb

NAME = "cpu_update"
BURN_MS = 20
RPC_TIMEOUT = 120.0
MIN_SAMPLES = 300


def _burn(address: str, burner_id: str, stop: Event, ms: int) -> None:
    """Enqueue `ms` CPU-bound updates at the pace BURN_MS ones drain (the worker never idles), then flush."""
    channel, stub = sync_stub(address)
    with channel:
        while not stop.is_set():
            stub.Run(run_request("Burner", burner_id, "burn", {"ms": ms}), timeout=RPC_TIMEOUT)
            time.sleep(BURN_MS / 1000)
        stub.FlushUpdates(pb.FlushUpdatesRequest(instance=ref("Burner", burner_id)), timeout=RPC_TIMEOUT)


def _serve_times(address: str, prefix: str, samples: int, burn_ms: int | None) -> Mapping[str, float]:
    """Serve latency of `samples` Runs; with a burner enqueueing `burn_ms` updates meanwhile, unless None."""
    burn = burn_ms is not None
    channel, stub = sync_stub(address)
    context = multiprocessing.get_context("spawn")
    stop = context.Event()
    burner = context.Process(target=_burn, args=(address, f"{prefix}-burn", stop, burn_ms))
    reader_id = f"{prefix}-read"
    recorder = Recorder()
    with channel:
        stub.Run(run_request("Burner", reader_id, "read", {"i": -1}), timeout=RPC_TIMEOUT)
        if burn:
            burner.start()
            time.sleep(1.0)  # the burner's interpreter is up and its updates are running
        try:
            for i in range(samples):
                started = time.perf_counter()
                stub.Run(run_request("Burner", reader_id, "read", {"i": i}), timeout=RPC_TIMEOUT)
                recorder.add(time.perf_counter() - started)
        finally:
            stop.set()
            if burn:
                burner.join(RPC_TIMEOUT)
                if burner.is_alive():
                    burner.kill()
                    burner.join()
    if burn and burner.exitcode != 0:
        raise RuntimeError(f"the burner process exited with {burner.exitcode}")
    return recorder.summary().as_ms()


def run(env: Env) -> list[Figure]:
    samples = max(MIN_SAMPLES, env.profile.pickup_samples * 2)

    def side(label: str, extra: tuple[str, ...], burn_ms: int | None) -> Side:
        return Side(
            label, lambda: _serve_times(env.motion_grpc(0, extra), env.unique("cpu"), samples, burn_ms)
        )

    processes = ("--update-processes", "1")
    threads_sides = {OURS: side("updates in threads, burning", (), BURN_MS), "idle": side("idle", (), None)}
    process_sides = {
        OURS: side("updates in a process, burning", processes, BURN_MS),
        "idle": side("idle", processes, None),
        "0 ms updates": side("same Runs, 0 ms updates", processes, 0),
    }
    interleave(
        env.profile.rounds,
        {**threads_sides, **{f"proc/{name}": process_side for name, process_side in process_sides.items()}},
    )
    specs_threads = [
        FigureSpec(
            "serve p99, CPU-bound updates in threads", "ms", "p99_ms", "idle", note=f"{BURN_MS} ms updates"
        ),
    ]
    specs_processes = [
        FigureSpec(
            "serve p99, CPU-bound updates in --update-processes 1",
            "ms",
            "p99_ms",
            "idle",
            target="<= 1.5x",
            note="idle: the same server with no update running",
        ),
        FigureSpec(
            "serve p99, CPU-bound updates in --update-processes 1, vs the same Runs with 0 ms updates",
            "ms",
            "p99_ms",
            "0 ms updates",
            note="the burner's Runs at the same pace, its update ops 0 ms: what remains is the ops' CPU",
        ),
    ]
    return figures(NAME, specs_threads, threads_sides) + figures(NAME, specs_processes, process_sides)


SCENARIO = Scenario(NAME, "serve latency while CPU-bound update ops run", run)
