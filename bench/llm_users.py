"""Users that each run one LLM-shaped flow at the same moment, then wait until its update is applied.

Every contender of bench/scenarios/llm.py runs the same users:

- motion-grpc over gRPC: `run_grpc_users` spreads them over client processes
  ("spawn"), each on the asyncio client (`AsyncMotionClient`); a user calls Run,
  then FlushUpdates.
- motion-grpc in-process: `python -m bench.llm_users --kind async --users N ...`,
  a process of its own (the bench samples its threads and memory); a user calls
  `inst.arun`, or `inst.run` from a thread of its own for sync ops, then
  `inst.flush_update`.
- Motion 0.1.132: `bench.motion_side llm`, in Motion's venv, with the same
  `run_instances`: so this module imports the standard library only at its top,
  and motion-grpc inside the functions that need it.

Each user's instance exists before the clock starts (created beforehand and
timed apart). Times are seconds from the common start moment: `answered` when a
user's answer came back; `applied` when its update op ended, as the op itself
stamped into the state (`summarised_at`, read back afterwards, so waiting costs
the figure nothing); `waited` when its flush returned (the caller's view, which
includes the commit and the wake-up). The flushes of asyncio in-process users
run one at a time on one thread (`flush_update` blocks), so they take no
threads or GIL time from the users still waiting for answers. What has not
happened `cap` seconds after the start is left out; the caller reports the row
as not finished.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from multiprocessing.sharedctypes import Synchronized
from multiprocessing.synchronize import Event
from typing import Any, Generic, Literal, TypeVar

from bench.apps.llm_ops import message

FLOW, CREATE_FLOW, STAMP = "chat", "open", "summarised_at"
Kind = Literal["sync", "async"]
KINDS: tuple[Kind, ...] = ("sync", "async")
START_MARGIN = 0.2  # seconds from the go to the start moment: every client process is waiting by then
CONCURRENCY = 32  # instances created, or read back, at once per client process
SLACK = 30.0  # beyond a cap, before a silent client process counts as stuck
T = TypeVar("T")


@dataclass
class Outcome:
    """What the users of one run saw; times in seconds from the start moment."""

    users: int
    created: int = 0
    create_s: float = 0.0
    answered: list[float] = field(default_factory=list)
    applied: list[float] = field(default_factory=list)
    waited: list[float] = field(default_factory=list)
    errors: int = 0
    first_error: str = ""

    def failed(self, exc: BaseException) -> None:
        self.errors += 1
        self.first_error = self.first_error or f"{type(exc).__name__}: {exc}"

    def stamped(self, stamps: Sequence[float], start_wall: float, cap: float) -> Outcome:
        """A copy with the update stamps (wall clock) as `applied`, without what happened after the cap.

        Copies the lists first: a user thread past the cap may still append to them.
        """
        applied = [stamp - start_wall for stamp in stamps if stamp > start_wall]
        return replace(
            self,
            answered=[t for t in list(self.answered) if t <= cap],
            applied=[t for t in applied if t <= cap],
            waited=[t for t in list(self.waited) if t <= cap],
        )

    @classmethod
    def merged(cls, parts: Sequence[Outcome]) -> Outcome:
        """The users of several client processes as one run (they created their instances at once)."""
        whole = cls(sum(part.users for part in parts))
        for part in parts:
            whole.created += part.created
            whole.create_s = max(whole.create_s, part.create_s)
            whole.answered += part.answered
            whole.applied += part.applied
            whole.waited += part.waited
            whole.errors += part.errors
            whole.first_error = whole.first_error or part.first_error
        return whole

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def of(cls, data: dict[str, Any]) -> Outcome:
        return cls(**data)


@dataclass(frozen=True)
class User(Generic[T]):
    """One user: what it calls for its answer, then to wait until its update is applied."""

    answer: Callable[[], T]
    wait: Callable[[], T]


def wall_clock_of(start_at: float) -> float:
    """The time.time() of the time.monotonic() instant `start_at`."""
    return time.time() + (start_at - time.monotonic())


async def users_at(start_at: float, cap: float, users: Sequence[User[Awaitable[Any]]]) -> Outcome:
    """Start every user's coroutine at `start_at` (time.monotonic); cancel what is left at the cap."""
    outcome = Outcome(len(users))

    async def one(user: User[Awaitable[Any]]) -> None:
        try:
            await user.answer()
            outcome.answered.append(time.monotonic() - start_at)
            await user.wait()
            outcome.waited.append(time.monotonic() - start_at)
        except Exception as exc:  # counted and reported with the round, never hidden
            outcome.failed(exc)

    await asyncio.sleep(max(0.0, start_at - time.monotonic()))
    tasks = [asyncio.create_task(one(user)) for user in users]
    _, pending = await asyncio.wait(tasks, timeout=max(0.0, start_at + cap - time.monotonic()))
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    return outcome


def threads_at(start_at: float, cap: float, users: Sequence[User[Any]]) -> Outcome:
    """Run every user on a thread of its own, all released at `start_at`; stop waiting at the cap."""
    outcome, go = Outcome(len(users)), threading.Event()

    def one(user: User[Any]) -> None:
        go.wait()
        try:
            user.answer()
            outcome.answered.append(time.monotonic() - start_at)
            user.wait()
            outcome.waited.append(time.monotonic() - start_at)
        except Exception as exc:  # counted and reported with the round, never hidden
            outcome.failed(exc)

    threads = [threading.Thread(target=one, args=(user,), daemon=True) for user in users]
    for thread in threads:
        thread.start()
    time.sleep(max(0.0, start_at - time.monotonic()))
    go.set()
    for thread in threads:
        thread.join(max(0.0, start_at + cap - time.monotonic()))
    return outcome


def create_instances(make: Callable[[str], Any], ids: Sequence[str], cap: float) -> tuple[list[Any], float]:
    """Instances made one after the other until done or `cap` seconds passed; and the seconds it took."""
    instances: list[Any] = []
    started = time.monotonic()
    for instance_id in ids:
        if time.monotonic() - started > cap:
            break
        instances.append(make(instance_id))
    return instances, time.monotonic() - started


def _instance_users(instances: Sequence[Any], kind: Kind, flusher: ThreadPoolExecutor) -> list[User[Any]]:
    """Users of in-process instances (motion-grpc's or Motion's: the same methods)."""

    def sync_user(instance: Any, props: dict[str, Any]) -> User[Any]:
        return User(lambda: instance.run(FLOW, props=props), lambda: instance.flush_update(FLOW))

    def async_user(instance: Any, props: dict[str, Any]) -> User[Any]:
        async def wait() -> None:
            await asyncio.get_running_loop().run_in_executor(flusher, instance.flush_update, FLOW)

        return User(lambda: instance.arun(FLOW, props=props), wait)

    make = sync_user if kind == "sync" else async_user
    return [make(instance, {"message": message(user)}) for user, instance in enumerate(instances)]


def run_instances(
    make: Callable[[str], Any], kind: Kind, ids: Sequence[str], cap: float, create_cap: float
) -> Outcome:
    """Create one in-process instance per user, then run them all at once (threads for sync ops).

    Threads still blocked when this returns (past the cap) are left behind: the caller exits the process.
    """
    instances, create_s = create_instances(make, ids, create_cap)
    if len(instances) < len(ids):
        return Outcome(len(ids), len(instances), create_s)
    flusher = ThreadPoolExecutor(1, thread_name_prefix="bench-flush")  # in order, one at a time
    users = _instance_users(instances, kind, flusher)
    start_at = time.monotonic() + START_MARGIN
    start_wall = wall_clock_of(start_at)
    if kind == "sync":
        outcome = threads_at(start_at, cap, users)
    else:
        outcome = asyncio.run(users_at(start_at, cap, users))
    flusher.shutdown(wait=False, cancel_futures=True)
    stamps = [float(instance.read_state(STAMP, 0.0)) for instance in instances]
    outcome = outcome.stamped(stamps, start_wall, cap)
    outcome.created, outcome.create_s = len(instances), create_s
    return outcome


def run_grpc_users(
    address: str, component: str, prefix: str, users: int, processes: int, cap: float, create_cap: float
) -> Outcome:
    """Run the users from `processes` client processes against a server; all start at one moment."""
    from bench.load import _expect

    context = multiprocessing.get_context("spawn")
    go, start = context.Event(), context.Value("d", 0.0)
    messages: multiprocessing.Queue[tuple[str, Any]] = context.Queue()
    shares = [share for slot in range(processes) if (share := list(range(slot, users, processes)))]
    workers = [
        context.Process(
            target=_grpc_process,
            args=(_Share(address, component, prefix, share, cap, create_cap), go, start, messages),
        )
        for share in shares
    ]
    for worker in workers:
        worker.start()
    try:
        ready = [Outcome.of(report) for report in _expect(messages, workers, "ready", create_cap + SLACK)]
        created = Outcome.merged(ready)
        if created.created == users:
            start.value = time.monotonic() + START_MARGIN
        go.set()
        done = _expect(messages, workers, "done", START_MARGIN + cap + SLACK)
    finally:
        go.set()
        for worker in workers:
            worker.join(SLACK)
            if worker.is_alive():
                worker.kill()
                worker.join()
    outcome = Outcome.merged([Outcome.of(report) for report in done])
    outcome.created, outcome.create_s = created.created, created.create_s
    return outcome


@dataclass(frozen=True)
class _Share:
    """The users one client process runs."""

    address: str
    component: str
    prefix: str
    users: list[int]
    cap: float
    create_cap: float


def _grpc_process(
    share: _Share, go: Event, start: Synchronized[float], messages: multiprocessing.Queue[tuple[str, Any]]
) -> None:
    try:
        outcome = asyncio.run(_grpc_users(share, go, start, messages))
        messages.put(("done", outcome.as_dict()))
    except BaseException as exc:
        messages.put(("error", f"{type(exc).__name__}: {exc}"))


async def _grpc_users(
    share: _Share, go: Event, start: Synchronized[float], messages: multiprocessing.Queue[tuple[str, Any]]
) -> Outcome:
    from motion_grpc import AsyncMotionClient

    async with AsyncMotionClient(share.address) as client:
        handles = {user: client.instance(share.component, f"{share.prefix}-{user}") for user in share.users}
        created, create_s = await _create_remote(list(handles.values()), share.create_cap)
        messages.put(("ready", Outcome(len(handles), created, create_s).as_dict()))
        await asyncio.to_thread(go.wait, share.create_cap + SLACK)
        if start.value <= 0:  # some process could not create its instances in time: no run
            return Outcome(len(handles))
        start_wall = wall_clock_of(start.value)
        outcome = await users_at(start.value, share.cap, [_grpc_user(h, u) for u, h in handles.items()])
        stamps = await _read_stamps(list(handles.values()))
    return outcome.stamped(stamps, start_wall, share.cap)


def _grpc_user(handle: Any, user: int) -> User[Awaitable[Any]]:
    props = {"message": message(user)}
    return User(lambda: handle.run(FLOW, props), lambda: handle.flush(FLOW))


async def _read_stamps(handles: Sequence[Any]) -> list[float]:
    limit = asyncio.Semaphore(CONCURRENCY)

    async def stamp(handle: Any) -> float:
        async with limit:
            return float((await handle.get_state([STAMP]))[STAMP])

    return list(await asyncio.gather(*(stamp(handle) for handle in handles)))


async def _create_remote(handles: Sequence[Any], cap: float) -> tuple[int, float]:
    """Create the instances (a Run of the `open` flow, which enqueues nothing); how many, in how long."""
    limit, created, started = asyncio.Semaphore(CONCURRENCY), 0, time.monotonic()

    async def create(handle: Any) -> None:
        nonlocal created
        async with limit:
            await handle.run(CREATE_FLOW)
            created += 1

    with contextlib.suppress(asyncio.TimeoutError):  # what was created by then is counted
        await asyncio.wait_for(asyncio.gather(*(create(handle) for handle in handles)), cap)
    return created, time.monotonic() - started


def main(argv: list[str] | None = None) -> None:
    """motion-grpc in-process: create the users' instances, run them at once, print the Outcome as JSON."""
    parser = argparse.ArgumentParser(description="LLM-shaped users of motion-grpc in-process.")
    parser.add_argument("--kind", choices=KINDS, required=True)
    parser.add_argument("--users", type=int, required=True)
    parser.add_argument("--prefix", required=True)
    parser.add_argument("--cap", type=float, required=True)
    parser.add_argument("--create-cap", type=float, required=True)
    args = parser.parse_args(argv)
    from bench.apps.llm import LlmAsync, LlmSync

    component = LlmAsync if args.kind == "async" else LlmSync
    ids = [f"{args.prefix}-{user}" for user in range(args.users)]
    print_and_exit(run_instances(component, args.kind, ids, args.cap, args.create_cap))


def print_and_exit(outcome: Outcome) -> None:
    """Print the outcome and leave at once: threads past the cap may still block in a call."""
    print(json.dumps(outcome.as_dict()), flush=True)
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
