"""Graceful shutdown: seconds from SIGTERM until a replica's process has exited.

Idle: a fresh replica runs 1,000 instances once each (FlushUpdates until
their updates are applied), so it holds them idle, then gets SIGTERM. Under
load: 8 clients in client processes keep running Runs (each adds 1 to its
own instance) when the replica gets SIGTERM, and stop at their first failed
call. A fresh replica then drains what was queued (FlushUpdates) and reads
every instance: an acknowledged Run whose update is missing from the state
counts as lost. The exit code must be 0.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import queue
import time
from collections.abc import Mapping
from multiprocessing.synchronize import Event
from typing import Any

import grpc

from bench.env import Env
from bench.report import Figure
from bench.rpc import aio_run_call, aio_stub, ref, run_request, state_number
from bench.scenarios._common import OURS, FigureSpec, Scenario, Side, figures, interleave
from motion_grpc._proto.motion.v1 import motion_pb2 as pb

NAME = "shutdown"
DB = 3  # the scenario's own database: flushed after each measurement
COMPONENT, FLOW = "Trivial", "add"
EXIT_TIMEOUT = 60.0  # beyond the server's 5 s grace: a replica that hangs is killed and reported
RPC_TIMEOUT = 30.0
CONCURRENCY = 32  # callers touching the idle instances
LOAD_BEFORE_SIGTERM = 1.0  # seconds every client has been running Runs when SIGTERM is sent
CLIENT_DEADLINE = 120.0


async def _touch(address: str, instance_ids: list[str]) -> None:
    """Run each instance once and wait until its update is applied: the replica then holds it idle."""
    async with grpc.aio.insecure_channel(address) as channel:
        run, stub, limit = aio_run_call(channel), aio_stub(channel), asyncio.Semaphore(CONCURRENCY)

        async def touch(instance_id: str) -> None:
            async with limit:
                request = run_request(COMPONENT, instance_id, FLOW, {"value": 1})
                await run(request, timeout=RPC_TIMEOUT)
                await stub.FlushUpdates(_flush_request(instance_id), timeout=RPC_TIMEOUT)

        await asyncio.gather(*(touch(instance_id) for instance_id in instance_ids))


def _flush_request(instance_id: str) -> pb.FlushUpdatesRequest:
    return pb.FlushUpdatesRequest(instance=ref(COMPONENT, instance_id))


async def _applied(address: str, instance_ids: list[str]) -> dict[str, int]:
    """Drain what is queued for each instance, then read how many +1 updates its state holds."""
    async with grpc.aio.insecure_channel(address) as channel:
        stub = aio_stub(channel)
        applied = {}
        for instance_id in instance_ids:
            await stub.FlushUpdates(_flush_request(instance_id), timeout=RPC_TIMEOUT)
            request = pb.GetStateRequest(instance=ref(COMPONENT, instance_id), keys=["value"])
            applied[instance_id] = int(
                state_number(await stub.GetState(request, timeout=RPC_TIMEOUT), "value")
            )
    return applied


def _idle(env: Env, prefix: str, instances: int) -> Mapping[str, float]:
    service, address = env.own_motion_grpc("motion-grpc-shutdown", db=DB)
    try:
        asyncio.run(_touch(address, [f"{prefix}-{i}" for i in range(instances)]))
        seconds, code = service.terminate_timed(EXIT_TIMEOUT)
    finally:
        service.stop()
        env.flush_db(DB)
    return {"seconds": seconds, "exit_code": float(code)}


def _under_load(env: Env, prefix: str, clients: int) -> Mapping[str, float]:
    instance_ids = [f"{prefix}-{i}" for i in range(clients)]
    service, address = env.own_motion_grpc("motion-grpc-shutdown", db=DB)
    try:
        with _Clients(address, instance_ids, env.profile.client_processes) as running:
            running.wait_running()
            time.sleep(LOAD_BEFORE_SIGTERM)
            seconds, code = service.terminate_timed(EXIT_TIMEOUT)
            acked = running.acknowledged()
        fresh, fresh_address = env.own_motion_grpc("motion-grpc-shutdown-after", db=DB)
        try:
            applied = asyncio.run(_applied(fresh_address, instance_ids))
        finally:
            fresh.stop()
    finally:
        service.stop()
        env.flush_db(DB)
    lost = sum(max(0, acked[i] - applied[i]) for i in instance_ids)
    unacknowledged = sum(max(0, applied[i] - acked[i]) for i in instance_ids)
    return {
        "seconds": seconds,
        "exit_code": float(code),
        "acknowledged": float(sum(acked.values())),
        "lost": float(lost),
        "applied_unacknowledged": float(unacknowledged),
    }


class _Clients:
    """Client processes running Runs (+1 each) on their instances until a call fails."""

    def __init__(self, address: str, instance_ids: list[str], processes: int) -> None:
        context = multiprocessing.get_context("spawn")
        self._messages: multiprocessing.Queue[tuple[str, Any]] = context.Queue()
        self._stop = context.Event()
        shares = [share for slot in range(processes) if (share := instance_ids[slot::processes])]
        self._workers = [
            context.Process(target=_client_process, args=(address, share, self._stop, self._messages))
            for share in shares
        ]

    def __enter__(self) -> _Clients:
        for worker in self._workers:
            worker.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for worker in self._workers:
            worker.join(10)
            if worker.is_alive():
                worker.kill()
                worker.join()

    def _expect(self, kind: str, timeout: float) -> list[Any]:
        deadline = time.monotonic() + timeout
        received: list[Any] = []
        while len(received) < len(self._workers):
            try:
                got, payload = self._messages.get(timeout=0.2)
            except queue.Empty:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"shutdown clients did not report {kind!r}") from None
                continue
            if got == "error":
                raise RuntimeError(f"shutdown client failed: {payload}")
            received.append(payload)
        return received

    def wait_running(self) -> None:
        """Until every client had a Run acknowledged."""
        self._expect("running", CLIENT_DEADLINE)

    def acknowledged(self) -> dict[str, int]:
        """Acknowledged Runs per instance, once every client stopped."""
        return {
            key: count for report in self._expect("done", CLIENT_DEADLINE) for key, count in report.items()
        }


def _client_process(
    address: str, instance_ids: list[str], stop: Event, messages: multiprocessing.Queue[Any]
) -> None:
    try:
        messages.put(("done", asyncio.run(_run_until_refused(address, instance_ids, stop, messages))))
    except BaseException as exc:
        messages.put(("error", f"{type(exc).__name__}: {exc}"))


async def _run_until_refused(
    address: str, instance_ids: list[str], stop: Event, messages: multiprocessing.Queue[Any]
) -> dict[str, int]:
    acked = dict.fromkeys(instance_ids, 0)
    started = asyncio.Event()
    async with grpc.aio.insecure_channel(address) as channel:
        run = aio_run_call(channel)

        async def client(instance_id: str) -> None:
            deadline = time.monotonic() + CLIENT_DEADLINE
            while not stop.is_set() and time.monotonic() < deadline:
                try:
                    await run(run_request(COMPONENT, instance_id, FLOW, {"value": 1}), timeout=RPC_TIMEOUT)
                except grpc.RpcError:
                    return  # the replica is going away: this client is done
                acked[instance_id] += 1
                if all(acked.values()) and not started.is_set():
                    started.set()
                    messages.put(("running", len(instance_ids)))

        await asyncio.gather(*(client(instance_id) for instance_id in instance_ids))
    return acked


def run(env: Env) -> list[Figure]:
    profile = env.profile
    idle = {
        OURS: Side("motion-grpc", lambda: _idle(env, env.unique("idle"), profile.shutdown_instances)),
    }
    loaded = {
        OURS: Side("motion-grpc", lambda: _under_load(env, env.unique("loaded"), profile.shutdown_clients)),
    }
    interleave(profile.rounds, {"idle": idle[OURS], "loaded": loaded[OURS]})
    return figures(NAME, [_idle_spec(idle[OURS], profile.shutdown_instances)], idle) + figures(
        NAME, [_loaded_spec(loaded[OURS], profile.shutdown_clients)], loaded
    )


def _exit_codes(side: Side) -> str:
    codes = sorted({int(values["exit_code"]) for values in side.rounds})
    return "exit code " + ", ".join(map(str, codes)) + ("" if codes == [0] else " (expected 0)")


def _idle_spec(side: Side, instances: int) -> FigureSpec:
    return FigureSpec(
        f"graceful shutdown, {instances:,} idle instances",
        "s",
        "seconds",
        target="<= 1 s",
        note=f"SIGTERM to process exit; every instance run once and flushed first; {_exit_codes(side)}",
    )


def _loaded_spec(side: Side, clients: int) -> FigureSpec:
    note = f"SIGTERM after {LOAD_BEFORE_SIGTERM:.0f} s of Runs from {clients} clients"
    if side.rounds:
        acked = int(sum(values["acknowledged"] for values in side.rounds))
        lost = int(sum(values["lost"] for values in side.rounds))
        extra = int(sum(values["applied_unacknowledged"] for values in side.rounds))
        note += (
            f"; {_exit_codes(side)}; over all rounds {acked:,} Runs acknowledged, {lost} of them lost "
            f"(state read by a fresh replica after FlushUpdates), {extra} applied but not acknowledged"
        )
    return FigureSpec(
        f"graceful shutdown under load, {clients} clients", "s", "seconds", target="<= 1 s", note=note
    )


SCENARIO = Scenario(NAME, "seconds from SIGTERM to exit, idle and under load", run)
