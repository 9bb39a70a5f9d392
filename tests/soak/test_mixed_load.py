"""`make soak`: mixed load on 1,000 instances from several client processes, then a full accounting.

Update ops sometimes raise, sometimes sleep, sometimes exit (tests/apps/soakapp.py).
Phases of the curve: setup (every instance created), warmup (a round of the
load, a tenth of the time and at least 10 s), rest (no client: descriptors
and threads counted), load (the first half of the rest of
MOTION_SOAK_SECONDS), rest (counted again), load (the second half), settle
(every instance flushed and every update accounted for, then counted a third
time). See resources.py for what "stopped growing" means. The curve is
printed and written to MOTION_SOAK_REPORT (default: soak-curve.txt in the
test's temporary directory). The server runs on the loop MOTION_SOAK_EVENT_LOOP
names (--event-loop; default: the server's own default).
"""

from __future__ import annotations

import collections
import contextlib
import multiprocessing
import os
import pathlib
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from motion_grpc import MotionClient
from motion_grpc.server import loops
from tests.helpers import ROOT, ServerProcess, assert_eventually
from tests.soak import resources
from tests.soak.driver import COMPONENT, Enqueued, Tally, drive, instance_ids
from tests.soak.ledger import Ledger, account

pytestmark = pytest.mark.soak

SECONDS = float(os.environ.get("MOTION_SOAK_SECONDS", "600"))
CLIENTS = int(os.environ.get("MOTION_SOAK_CLIENTS", "3"))
EVENT_LOOP = os.environ.get("MOTION_SOAK_EVENT_LOOP", loops.DEFAULT)
INSTANCES = 1000
WARMUP = max(10.0, SECONDS * 0.1)
SOAK_APP = str(ROOT / "tests" / "apps" / "soakapp.py")


@dataclass
class Soak:
    sampler: resources.Sampler
    tallies: list[Tally]
    ledger: Ledger
    rests: list[resources.Sample]
    #: Why descriptors or threads kept growing at rest (empty when they did not).
    still_growing: list[str]


@pytest.fixture
def soak_server(redis_url: str, tmp_path: pathlib.Path) -> Iterator[ServerProcess]:
    args = ["--update-workers", "4", "--events-retention", "1000000", "--event-loop", EVENT_LOOP]
    with ServerProcess(
        apps=[SOAK_APP], redis_url=redis_url, args=args, log=tmp_path / "server.log"
    ) as server:
        yield server


def load_round(target: str, seconds: float, folder: pathlib.Path, seed: int) -> list[Tally]:
    """CLIENTS processes (spawn: this process holds gRPC channels) loading for `seconds`."""
    context = multiprocessing.get_context("spawn")
    outputs = [folder / f"client-{seed}-{index}.json" for index in range(CLIENTS)]
    ids = instance_ids(INSTANCES)
    processes = [
        context.Process(target=drive, args=(target, ids, seconds, seed * 100 + index, str(out)))
        for index, out in enumerate(outputs)
    ]
    for process in processes:
        process.start()
    try:
        for process in processes:
            process.join(seconds + 180)
    finally:
        for process in processes:
            if process.is_alive():
                process.kill()
                process.join()
    assert all(process.exitcode == 0 for process in processes), [p.exitcode for p in processes]
    return [Tally.load(out) for out in outputs]


def create_instances(client: MotionClient) -> list[Enqueued]:
    runs = []
    for instance_id in instance_ids(INSTANCES):
        outcome = client.instance(COMPONENT, instance_id).run_outcome("digest", {"n": 0}, timeout=30)
        runs.append(Enqueued(instance_id, "digest", 0, outcome.update_ids))
    return runs


def still_growing(sampler: resources.Sampler, rests: list[resources.Sample]) -> list[str]:
    """The last count at rest, taken once the counts settle (30 s at most), judged against the first two."""
    final: list[resources.Sample] = []

    def settled() -> bool:
        final[:] = [sampler.sample()]
        return not resources.rest_verdicts([*rests, *final])

    with contextlib.suppress(AssertionError):
        assert_eventually(settled, timeout=30, interval=0.5)
    rests += final
    return resources.rest_verdicts(rests)


def phase(
    sampler: resources.Sampler, name: str, seconds: float, server: ServerProcess, folder: pathlib.Path
) -> list[Tally]:
    """A round of load tagged `name` in the curve; the samples after it are tagged "rest"."""
    sampler.phase = name
    tallies = load_round(server.target, seconds, folder, seed=len(sampler.samples))
    sampler.phase = "rest"
    assert server.process is not None
    code = server.process.poll()
    assert code is None, f"the server died during the {name} round (exit code {code}); {errors_of(tallies)}"
    return tallies


def errors_of(tallies: list[Tally]) -> dict[str, int]:
    return dict(sum((tally.errors for tally in tallies), collections.Counter()))


def soak(server: ServerProcess, redis_url: str, folder: pathlib.Path) -> Soak:
    """Warm up, rest, load, rest, load; then account for every update and rest again."""
    assert server.process is not None
    sampler = resources.Sampler(server.process.pid, interval=min(5.0, max(1.0, SECONDS / 120))).start()
    half = (SECONDS - WARMUP) / 2
    try:
        with MotionClient(server.target) as client:
            runs = create_instances(client)
            tallies = phase(sampler, "warmup", WARMUP, server, folder)
            rests = [sampler.sample()]
            tallies += phase(sampler, "load", half, server, folder)
            rests.append(sampler.sample())
            tallies += phase(sampler, "load", half, server, folder)
            sampler.phase = "settle"
            runs += [run for tally in tallies for run in tally.enqueued]
            ledger = account(redis_url, client, runs, instance_ids(INSTANCES))
        return Soak(sampler, tallies, ledger, rests, still_growing(sampler, rests))
    finally:
        sampler.stop()


def report(result: Soak, folder: pathlib.Path) -> str:
    calls = sum((tally.calls for tally in result.tallies), collections.Counter())
    ended = ", ".join(f"{op} {status} {n}" for (op, status), n in sorted(result.ledger.counts.items()))
    rests = ", ".join(f"{rest.fds} fds / {rest.threads} threads" for rest in result.rests)
    memory = resources.memory_verdict(result.sampler.of_phase("load")) or "RSS stopped growing"
    text = "\n".join(
        [
            f"soak: {SECONDS:.0f} s, {CLIENTS} client processes, {INSTANCES} instances",
            "calls: " + ", ".join(f"{name} {n}" for name, n in sorted(calls.items())),
            f"updates ended: {ended}",
            f"at rest (warm, half-way, end): {rests}; {'; '.join(result.still_growing) or 'not growing'}",
            f"memory: {memory}",
            resources.table(result.sampler.samples),
        ]
    )
    path = pathlib.Path(os.environ.get("MOTION_SOAK_REPORT") or folder / "soak-curve.txt")
    path.write_text(text + "\n")
    print(f"\n{text}\n(written to {path})")
    return text


@pytest.mark.timeout(SECONDS * 2 + 900)
def test_mixed_load(soak_server: ServerProcess, redis_url: str, tmp_path: pathlib.Path) -> None:
    result = soak(soak_server, redis_url, tmp_path)
    report(result, tmp_path)
    assert soak_server.process is not None and soak_server.process.poll() is None, "the server died"
    errors = errors_of(result.tallies)
    assert not errors, f"answers a correct server would not give: {errors}"
    assert not result.ledger.problems, "updates not accounted for:\n" + "\n".join(result.ledger.problems)
    assert not result.still_growing, result.still_growing
    verdict = resources.memory_verdict(result.sampler.of_phase("load"))
    assert verdict is None, verdict
    assert soak_server.stop(timeout=30) == 0, "the server did not shut down cleanly on SIGTERM after the soak"
