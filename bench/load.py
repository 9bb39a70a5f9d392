"""Load clients: separate processes ("spawn" context) running closed-loop clients on asyncio.

Every client runs one instance of the trivial component (or, with a pool, a
random one of many existing instances per call) and calls its flow back to
back with new props each call (so every serve is a cache miss). All
processes start together (once every client is set up), load for `warmup` seconds unmeasured,
then record each call that starts within the next `duration` seconds. The
same code drives motion-grpc and the bare server (gRPC, same multicallable),
and Motion's HTTP app (aiohttp).
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import queue
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from multiprocessing.synchronize import Event
from typing import Any, Literal

from bench.stats import LatencySummary, Recorder, summarize

SETUP_TIMEOUT = 120.0
Call = Callable[[int], Awaitable[Any]]
CallFactory = Callable[[str], Awaitable[Call]]


@dataclass(frozen=True)
class Target:
    """What the clients call: `grpc` (motion-grpc or the bare server) or `motion-http`."""

    kind: Literal["grpc", "motion-http"]
    address: str
    component: str = "Trivial"
    flow: str = "add"
    api_key: str = ""
    #: (prefix, n): every call runs a random one of n existing instances `<prefix><k>` (gRPC only),
    #: instead of the client's own instance.
    pool: tuple[str, int] | None = None
    #: One connection per client instead of one per client process: the kernel spreads connections,
    #: not calls, over processes sharing a port (`serve --processes N`).
    connection_per_client: bool = False


@dataclass(frozen=True)
class LoadSpec:
    target: Target
    clients: int
    processes: int
    duration: float
    warmup: float
    instance_prefix: str


@dataclass
class LoadResult:
    """Latencies of the calls of the measured window, from all clients."""

    duration: float
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    first_error: str = ""

    @property
    def throughput(self) -> float:
        return len(self.latencies) / self.duration

    def summary(self) -> LatencySummary:
        return summarize(self.latencies)


class LoadError(RuntimeError):
    """The load could not be run or every call failed."""


def run_load(spec: LoadSpec) -> LoadResult:
    """Run the clients of `spec` in their own processes and merge what they measured."""
    processes = max(1, min(spec.processes, spec.clients))
    shares = [
        spec.clients // processes + (1 if i < spec.clients % processes else 0) for i in range(processes)
    ]
    context = multiprocessing.get_context("spawn")
    go = context.Event()
    messages: multiprocessing.Queue[tuple[str, Any]] = context.Queue()
    workers = [
        context.Process(target=_client_process, args=(spec, slot, share, go, messages), daemon=True)
        for slot, share in enumerate(shares)
    ]
    for worker in workers:
        worker.start()
    try:
        _expect(messages, workers, "ready", SETUP_TIMEOUT)
        go.set()
        reports = _expect(messages, workers, "done", spec.warmup + spec.duration + SETUP_TIMEOUT)
    finally:
        go.set()
        for worker in workers:
            worker.join(10)
            if worker.is_alive():
                worker.kill()
    return _merge(spec.duration, reports)


def _expect(
    messages: multiprocessing.Queue[tuple[str, Any]], workers: list[Any], kind: str, timeout: float
) -> list[Any]:
    """One `kind` message per worker; a worker's error, death or silence raises LoadError."""
    deadline = time.monotonic() + timeout
    received: list[Any] = []
    while len(received) < len(workers):
        try:
            got, payload = messages.get(timeout=0.2)
        except queue.Empty:
            crashed = [worker.exitcode for worker in workers if worker.exitcode not in (None, 0)]
            if crashed or time.monotonic() > deadline:
                raise LoadError(f"load clients did not report {kind!r} (exit codes {crashed})") from None
            continue
        if got == "error":
            raise LoadError(f"load client failed: {payload}")
        received.append(payload)
    return received


def _merge(duration: float, reports: list[tuple[list[float], int, str]]) -> LoadResult:
    merged = LoadResult(duration=duration)
    for latencies, errors, first_error in reports:
        merged.latencies += latencies
        merged.errors += errors
        merged.first_error = merged.first_error or first_error
    if not merged.latencies:
        raise LoadError(f"no call succeeded: {merged.first_error or 'no calls made'}")
    return merged


def _client_process(
    spec: LoadSpec, slot: int, clients: int, go: Event, messages: multiprocessing.Queue[Any]
) -> None:
    try:
        messages.put(("done", asyncio.run(_drive(spec, slot, clients, go, messages))))
    except BaseException as exc:
        messages.put(("error", f"{type(exc).__name__}: {exc}"))


async def _drive(
    spec: LoadSpec, slot: int, clients: int, go: Event, messages: multiprocessing.Queue[Any]
) -> tuple[list[float], int, str]:
    async with _call_factory(spec.target, clients) as make_call:
        calls = [await make_call(f"{spec.instance_prefix}-{slot}-{n}") for n in range(clients)]
        messages.put(("ready", slot))
        if not await asyncio.to_thread(go.wait, SETUP_TIMEOUT):
            raise LoadError("never told to start")
        measure_from = time.perf_counter() + spec.warmup
        end = measure_from + spec.duration
        loops = await asyncio.gather(*(_client_loop(call, measure_from, end) for call in calls))
    latencies = [sample for recorder, _, _ in loops for sample in recorder.samples]
    errors = sum(count for _, count, _ in loops)
    first_error = next((error for _, _, error in loops if error), "")
    return latencies, errors, first_error


async def _client_loop(call: Call, measure_from: float, end: float) -> tuple[Recorder, int, str]:
    """Call back to back until `end`; record the calls started from `measure_from` on."""
    recorder, errors, first_error, i = Recorder(), 0, "", 0
    while (now := time.perf_counter()) < end:
        i += 1
        try:
            if now < measure_from:
                await call(i)
                continue
            with recorder.measure():
                await call(i)
        except Exception as exc:
            errors += 1
            first_error = first_error or f"{type(exc).__name__}: {exc}"
    return recorder, errors, first_error


def _call_factory(target: Target, clients: int) -> contextlib.AbstractAsyncContextManager[CallFactory]:
    if target.kind == "grpc":
        return _grpc_calls(target)
    return _motion_http_calls(target, clients)


@contextlib.asynccontextmanager
async def _grpc_calls(target: Target) -> AsyncIterator[CallFactory]:

    from bench.rpc import aio_run_call, run_request

    async with contextlib.AsyncExitStack() as stack:
        shared = await stack.enter_async_context(_ready_channel(target.address))

        async def make_call(instance_id: str) -> Call:
            channel = shared
            if target.connection_per_client:
                channel = await stack.enter_async_context(_ready_channel(target.address, own=True))
            run = aio_run_call(channel)

            def pick() -> str:
                if target.pool is None:
                    return instance_id
                prefix, size = target.pool
                return f"{prefix}{random.randrange(size)}"

            async def call(i: int) -> Any:
                return await run(run_request(target.component, pick(), target.flow, {"value": i}))

            await call(0)  # creates the instance before the clock starts
            return call

        yield make_call


@contextlib.asynccontextmanager
async def _ready_channel(address: str, own: bool = False) -> AsyncIterator[Any]:
    """A ready channel; `own`: a connection of its own (channels to one target share one otherwise)."""
    import grpc

    options = [("grpc.use_local_subchannel_pool", 1)] if own else []
    async with grpc.aio.insecure_channel(address, options=options) as channel:
        await asyncio.wait_for(channel.channel_ready(), 30)
        yield channel


@contextlib.asynccontextmanager
async def _motion_http_calls(target: Target, clients: int) -> AsyncIterator[CallFactory]:
    """Motion's Application: POST /{component} with a JWT from POST /auth (X-API-Key header)."""
    import aiohttp

    key_header = {"X-API-Key": target.api_key}
    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(target.address, connector=connector) as session:

        async def make_call(instance_id: str) -> Call:
            async with session.post("/auth", json={"instance_id": instance_id}, headers=key_header) as reply:
                reply.raise_for_status()
                token = (await reply.json())["token"]
            headers = {**key_header, "Authorization": f"Bearer {token}"}

            async def call(i: int) -> Any:
                body = {"instance_id": instance_id, "flow_key": target.flow, "props": {"value": i}}
                async with session.post(f"/{target.component}", json=body, headers=headers) as reply:
                    reply.raise_for_status()
                    return await reply.read()

            await call(0)
            return call

        yield make_call
