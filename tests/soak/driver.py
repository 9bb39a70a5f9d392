"""One soak client process: mixed Run, RunStream, GetState, FlushUpdates and WatchUpdates until time is up.

Every update id the server hands back is written down with the props that
fated it, so the checker can account for each one at the end. Anything the
server answers that a correct server would not is counted as an error.
"""

from __future__ import annotations

import collections
import json
import pathlib
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from motion_grpc import MotionClient
from motion_grpc.client import InstanceHandle
from motion_grpc.errors import DeadlineExceededError, MotionError

COMPONENT = "Soak"
#: A tenth of the calls go to a few hot instances, so updates queue up there and policies discard.
HOT_INSTANCES = 8
HOT_SHARE = 0.1


@dataclass
class Enqueued:
    """The updates one run enqueued: the checker predicts each one's end from `flow` and `n`."""

    instance_id: str
    flow: str
    n: int
    update_ids: list[str]


@dataclass
class Tally:
    """What one client did and saw."""

    enqueued: list[Enqueued] = field(default_factory=list)
    calls: collections.Counter[str] = field(default_factory=collections.Counter)
    errors: collections.Counter[str] = field(default_factory=collections.Counter)

    def save(self, path: pathlib.Path) -> None:
        data = {"enqueued": [asdict(e) for e in self.enqueued], "calls": self.calls, "errors": self.errors}
        path.write_text(json.dumps(data))

    @classmethod
    def load(cls, path: pathlib.Path) -> Tally:
        data = json.loads(path.read_text())
        enqueued = [Enqueued(**item) for item in data["enqueued"]]
        calls, errors = collections.Counter(data["calls"]), collections.Counter(data["errors"])
        return cls(enqueued, calls, errors)


def instance_ids(count: int) -> list[str]:
    return [f"soak-{index:04d}" for index in range(count)]


class Client:
    """One process's share of the load, on its own channel."""

    def __init__(self, client: MotionClient, ids: list[str], seed: int) -> None:
        self._client = client
        self._ids = ids
        self._random = random.Random(seed)
        self.tally = Tally()
        self._actions: list[tuple[str, Callable[[InstanceHandle], None], int]] = [
            ("Run", self.run, 45),
            ("RunStream", self.stream, 15),
            ("GetState", self.get_state, 15),
            ("FlushUpdates", self.flush, 10),
            ("WatchUpdates", self.watch, 5),
        ]

    def step(self) -> None:
        name, action, _ = self._random.choices(self._actions, [weight for *_, weight in self._actions])[0]
        hot = self._random.random() < HOT_SHARE
        instance_id = self._random.choice(self._ids[:HOT_INSTANCES] if hot else self._ids)
        self.tally.calls[name] += 1
        try:
            action(self._client.instance(COMPONENT, instance_id))
        except MotionError as exc:
            self.tally.errors[f"{name} {exc.code.name}: {exc.message[:120]}"] += 1

    def run(self, handle: InstanceHandle) -> None:
        flow = "ask" if self._random.random() < 0.8 else "digest"
        n = self._random.getrandbits(48)
        flush = self._random.random() < 0.05
        outcome = handle.run_outcome(flow, {"n": n}, flush_update=flush, timeout=60)
        self.tally.enqueued.append(Enqueued(handle.instance_id, flow, n, outcome.update_ids))

    def stream(self, handle: InstanceHandle) -> None:
        n = self._random.getrandbits(48)
        with handle.stream("stream", {"n": n}, timeout=60) as items:
            received = list(items)
            if len(received) != 3:
                self.tally.errors[f"RunStream: {len(received)} items, not 3"] += 1
            self.tally.enqueued.append(Enqueued(handle.instance_id, "stream", n, items.update_ids))

    def get_state(self, handle: InstanceHandle) -> None:
        state = handle.get_state(timeout=30)
        if not isinstance(state.get("applied"), int):
            self.tally.errors[f"GetState: a state without its counter: {sorted(state)}"] += 1

    def flush(self, handle: InstanceHandle) -> None:
        handle.flush(timeout=60)

    def watch(self, handle: InstanceHandle) -> None:
        """Watch, run, and see this run's first update go by (or say it never did)."""
        with handle.watch(timeout=10) as events:
            n = self._random.getrandbits(48)
            outcome = handle.run_outcome("ask", {"n": n}, timeout=60)
            self.tally.enqueued.append(Enqueued(handle.instance_id, "ask", n, outcome.update_ids))
            try:
                if not any(event.update_id == outcome.update_ids[0] for event in events):
                    self.tally.errors["WatchUpdates: the stream ended without the run's update"] += 1
            except DeadlineExceededError:
                self.tally.errors["WatchUpdates: the run's update not seen within 10 s"] += 1


def drive(target: str, ids: list[str], seconds: float, seed: int, out: str) -> None:
    """A client process's body (started with the spawn context): load until `seconds` have passed."""
    with MotionClient(target) as motion_client:
        motion_client.wait_ready(timeout=30)
        client = Client(motion_client, ids, seed)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            client.step()
    client.tally.save(pathlib.Path(out))
