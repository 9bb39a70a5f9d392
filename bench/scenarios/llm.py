"""LLM-shaped load: every user runs a flow once at the same moment; serve ops wait 0.2 s, update ops 0.5 s.

Loads: 200 users with sync ops (`time.sleep`), 200, 1,000 and (full profile)
5,000 users with async ops (`await asyncio.sleep`); bench/apps/llm.py. Each user
has its own instance, created beforehand (timed apart, not in the figures).
Three contenders, each in a fresh process per round:

- over gRPC: one `motion-grpc serve bench.apps.llm` with default flags; the users
  run from client processes on the asyncio client (Run, then FlushUpdates);
- in-process: `python -m bench.llm_users`, `inst.arun` per user on one event
  loop, or `inst.run` on a thread per user for sync ops;
- Motion 0.1.132 in-process, the same users (bench/motion_side.py `llm`), on the
  200- and 1,000-user loads;
- for async ops, the model-call limit: `bench.echo_server --model-calls`, a
  grpc.aio server that only waits like the ops, makes one enqueue and one
  commit round trip to Redis, and answers the same users over gRPC. What it
  needs is what gRPC, asyncio and Redis cost on this machine, before any
  engine: our gRPC rows are also given as a ratio to it.

Figures per load and contender: all answers back (start to the last answer),
all updates applied (start to the last update op's end, as the op stamped it
into the state), and the peak thread count and peak RSS (VmHWM) of the process
doing the work (the server; the in-process users' process; Motion's process),
sampled from /proc. A round stops at its cap (a multiple of the load's update
target): what had not happened by then is reported as not finished, everything
it started is stopped, and that contender is not measured again on that load.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from bench.baselines import ROOT
from bench.env import Env, _without_motion_redis
from bench.llm_users import Kind, Outcome, run_grpc_users
from bench.report import Figure, Series
from bench.scenarios._common import Scenario, Side, interleave
from bench.services import LOG_DIR, Service, bin_path, free_port, grpc_ready
from bench.stats import median

NAME = "llm"
DB, MOTION_DB = 5, 6  # the scenario's own databases (ours, Motion's): flushed after every round
APP = "bench.apps.llm"
SAMPLE_INTERVAL = 0.02  # seconds between two looks at /proc/PID/status
CREATE_CAP_FACTOR = 2.0  # creating the instances may take this multiple of a round's cap
CHILD_SLACK = 30.0  # beyond creation and run caps, before a silent child process is killed
GRPC, INPROCESS, MOTION, LIMIT = "grpc", "inprocess", "motion", "limit"


@dataclass(frozen=True)
class Load:
    """One LLM-shaped load and the issue's targets for it (seconds)."""

    users: int
    kind: Kind
    answers_target: float
    updates_target: float
    stated: bool  # the issue states these targets for this load
    motion: bool  # Motion 0.1.132 runs it too

    @property
    def component(self) -> str:
        return "LlmAsync" if self.kind == "async" else "LlmSync"

    @property
    def title(self) -> str:
        return f"{self.users:,} users, {self.kind} ops"


LOADS = (
    Load(200, "sync", 1.0, 2.5, stated=True, motion=True),
    Load(200, "async", 1.0, 2.5, stated=False, motion=True),
    Load(1000, "async", 1.0, 2.5, stated=True, motion=True),
    Load(5000, "async", 2.0, 5.0, stated=True, motion=False),
)


class PeakSampler:
    """Peak `Threads` and `VmHWM` (peak RSS) of a process, read from /proc/PID/status while it lives."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.threads = 0
        self.hwm_bytes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def __enter__(self) -> PeakSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _watch(self) -> None:
        while self._sample() and not self._stop.wait(SAMPLE_INTERVAL):
            pass

    def _sample(self) -> bool:
        """One look; False once the process is gone."""
        try:
            with open(f"/proc/{self.pid}/status") as status:
                lines = status.read().splitlines()
        except OSError:
            return False
        for line in lines:
            name, _, value = line.partition(":")
            if name == "Threads":
                self.threads = max(self.threads, int(value))
            elif name == "VmHWM":
                self.hwm_bytes = max(self.hwm_bytes, int(value.split()[0]) * 1024)
        return True


def _values(outcome: Outcome, peak: PeakSampler) -> dict[str, float]:
    """One round's figures; answers_s / updates_s only when every user got there within the cap."""
    if outcome.errors:
        raise RuntimeError(f"{outcome.errors} of {outcome.users} users failed: {outcome.first_error}")
    values = {
        "users": float(outcome.users),
        "created": float(outcome.created),
        "create_s": outcome.create_s,
        "answered": float(len(outcome.answered)),
        "applied": float(len(outcome.applied)),
    }
    if outcome.created < outcome.users:
        return values  # it never ran: its threads and memory say nothing about the load
    values.update(threads=float(peak.threads), rss_mb=peak.hwm_bytes / 2**20)
    for key, times in (
        ("answers_s", outcome.answered),
        ("updates_s", outcome.applied),
        ("waited_s", outcome.waited),
    ):
        if len(times) == outcome.users:
            values[key] = max(times)
    return values


def _unfinished(values: Mapping[str, float], cap: float) -> str:
    users = int(values["users"])
    if values["created"] < users:
        created = int(values["created"])
        return f"did not create its instances within {_create_cap(cap):.0f} s: {created:,} of {users:,}"
    parts = [f"{int(values['applied']):,} of {users:,} updates applied"]
    if values["answered"] < users:
        parts.insert(0, f"{int(values['answered']):,} of {users:,} answers back")
    return f"did not finish within {cap:.0f} s of the start: " + ", ".join(parts)


def _capped_side(label: str, measure: Callable[[], Mapping[str, float]], cap: float) -> Side:
    """A side that stops being measured after a round that did not finish within its cap."""
    side = Side(label, measure)

    def measure_capped() -> Mapping[str, float]:
        values = measure()
        if "updates_s" not in values:
            side.unavailable, side.status = _unfinished(values, cap), "failed"
        return values

    side.measure = measure_capped
    return side


def _grpc(env: Env, load: Load, cap: float) -> Mapping[str, float]:
    """One round over gRPC against a fresh server with default flags."""
    port = free_port()
    command = [bin_path("motion-grpc"), "serve", APP, "--port", str(port), "--redis", env.redis_url_db(DB)]
    server_env = {**_without_motion_redis(), "PYTHONPATH": str(ROOT)}
    service = Service("motion-grpc-llm", [*command, "--log-level", "WARNING"], server_env)
    return _users_of(env, service, port, load.component, env.unique("llm"), load, cap)


def _limit(env: Env, load: Load, cap: float) -> Mapping[str, float]:
    """One round of the same users against the model-call limit (bench/echo_server.py --model-calls)."""
    port = free_port()
    command = [bin_path("python"), "-m", "bench.echo_server", "--port", str(port), "--server", "aio"]
    command += ["--redis", env.redis_url_db(DB), "--model-calls"]
    return _users_of(
        env, Service("echo-model-calls", command), port, load.component, env.unique("llm-limit"), load, cap
    )


def _users_of(
    env: Env, service: Service, port: int, component: str, prefix: str, load: Load, cap: float
) -> Mapping[str, float]:
    """Start `service` on `port`, run the load's users against it, stop it; the round's figures."""
    address = f"127.0.0.1:{port}"
    try:
        service.start(grpc_ready(address))
        with PeakSampler(service.pid) as peak:
            outcome = run_grpc_users(
                address, component, prefix, load.users, env.profile.client_processes, cap, _create_cap(cap)
            )
    finally:
        service.stop()
        env.flush_db(DB)
    return _values(outcome, peak)


def _child(name: str, command: list[str], child_env: dict[str, str], timeout: float) -> Mapping[str, float]:
    """Run a child that prints an Outcome as its last line, sampling its threads and memory meanwhile."""
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    log = LOG_DIR / f"{name}.log"
    with log.open("wb") as stderr:
        process = subprocess.Popen(
            command, cwd=ROOT, env=child_env, stdout=subprocess.PIPE, stderr=stderr, stdin=subprocess.DEVNULL
        )
    with PeakSampler(process.pid) as peak:
        try:
            out, _ = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
            raise RuntimeError(f"{name} did not end within {timeout:.0f} s; see {log}") from None
    lines = out.decode().strip().splitlines()
    if process.returncode != 0 or not lines:
        raise RuntimeError(f"{name} exited with {process.returncode} and no outcome; see {log}")
    return _values(Outcome.of(json.loads(lines[-1])), peak)


def _users_args(env: Env, load: Load, cap: float) -> list[str]:
    """The options of a child running the users (bench.llm_users, bench.motion_side llm)."""
    options = {
        "kind": load.kind,
        "users": load.users,
        "prefix": env.unique("llm"),
        "cap": cap,
        "create-cap": _create_cap(cap),
    }
    return [part for name, value in options.items() for part in (f"--{name}", str(value))]


def _create_cap(cap: float) -> float:
    """Creating the instances may take this long: Motion starts two threads per instance."""
    return CREATE_CAP_FACTOR * cap


def _child_timeout(cap: float) -> float:
    return _create_cap(cap) + cap + CHILD_SLACK


def _inprocess(env: Env, load: Load, cap: float) -> Mapping[str, float]:
    """One round of motion-grpc in-process, in a process of its own."""
    command = [sys.executable, "-m", "bench.llm_users", *_users_args(env, load, cap)]
    child_env = {**_without_motion_redis(), "MOTION_REDIS_URL": env.redis_url_db(DB)}
    try:
        return _child("llm-inprocess", command, child_env, _child_timeout(cap))
    finally:
        env.flush_db(DB)


def _motion(env: Env, load: Load, cap: float) -> Mapping[str, float]:
    """One round of Motion 0.1.132 in-process, in its venv, on a database of its own."""
    command = [env.motion_python(), "-m", "bench.motion_side", "llm", *_users_args(env, load, cap)]
    child_env = {**env.motion_env(), "MOTION_REDIS_DB": str(MOTION_DB)}
    try:
        return _child("llm-motion", command, child_env, _child_timeout(cap))
    finally:
        env.flush_db(MOTION_DB)


def _cap(env: Env, load: Load) -> float:
    return env.profile.llm_cap_factor * load.updates_target


def _sides(env: Env, load: Load) -> dict[str, Side]:
    cap = _cap(env, load)
    sides = {
        GRPC: _capped_side("motion-grpc over gRPC", lambda: _grpc(env, load, cap), cap),
        INPROCESS: _capped_side("motion-grpc in-process", lambda: _inprocess(env, load, cap), cap),
    }
    if load.motion:
        sides[MOTION] = _capped_side("Motion 0.1.132 in-process", lambda: _motion(env, load, cap), cap)
    if load.kind == "async":
        sides[LIMIT] = _capped_side("model-call limit (grpc.aio echo)", lambda: _limit(env, load, cap), cap)
    return sides


WHERE = {GRPC: "over gRPC", INPROCESS: "in-process"}
#: (key in a round's values, figure, unit)
FIGURES = (
    ("answers_s", "all answers back", "s"),
    ("updates_s", "all updates applied", "s"),
    ("threads", "peak threads", "threads"),
    ("rss_mb", "peak RSS", "MB"),
)
LIMIT_NOTE = (
    "the limit answers the same users with nothing but the ops' waits, gRPC, and one enqueue and one "
    "commit round trip to Redis (bench/echo_server.py --model-calls)"
)
PROCESS = {
    GRPC: "the server process",
    INPROCESS: "the users' process (with the bench's threads: one per user for sync ops, one flush waiter "
    "for async ones)",
}


def _series(side: Side, key: str) -> Series:
    values = [values[key] for values in side.rounds if key in values]
    return Series(side.label, values, None if values else side.unavailable or "no rounds measured")


def _target(load: Load, where: str, key: str) -> str:
    if key in ("threads", "rss_mb"):
        return "report"
    stated = load.answers_target if key == "answers_s" else load.updates_target
    parts = [f"<= {stated:g} s"] if where == GRPC and load.stated else []
    if load.motion:
        parts.append("< 1x")
    return "; ".join(parts) or "—"


def _medians(side: Side | None, key: str, complete: bool = False) -> float | None:
    """The median of `key` over a side's rounds (with `complete`, those that created every instance)."""
    rounds = side.rounds if side else []
    values = [v[key] for v in rounds if key in v and (not complete or v["created"] == v["users"])]
    return median(values) if values else None


def _stopped(side: Side | None) -> list[str]:
    if side is None or side.unavailable is None or not side.rounds:
        return []
    return [f"{side.label}: round {len(side.rounds)} {side.unavailable}"]


def _note(env: Env, load: Load, where: str, key: str, sides: Mapping[str, Side]) -> str:
    ours, motion = sides[where], sides.get(MOTION)
    if key == "answers_s":
        return "; ".join([_answers_note(env, load, where, sides), *_stopped(ours), *_stopped(motion)])
    if key == "updates_s":
        note = "to the last update op's end, stamped by the op into the state and read back afterwards"
        if (waited := _medians(ours, "waited_s")) is not None:
            note += (
                f"; the last {'FlushUpdates' if where == GRPC else 'flush_update'} returned at {waited:.2f} s"
            )
        return note
    note = f"{'Threads' if key == 'threads' else 'VmHWM'} of {PROCESS[where]}, from /proc"
    if any(side is not None and side.unavailable is not None for side in (ours, motion)):
        note += "; a round stopped at its cap counts the peak until then"
    return note


def _answers_note(env: Env, load: Load, where: str, sides: Mapping[str, Side]) -> str:
    if where == GRPC:
        how = f"Run from {env.profile.client_processes} client processes (asyncio client)"
    else:
        how = "inst.run on a thread per user" if load.kind == "sync" else "inst.arun per user on one loop"
    created = [
        f"{side.label} {seconds:.1f} s"
        for side in (sides[where], sides.get(MOTION))
        if side is not None and (seconds := _medians(side, "create_s", complete=True)) is not None
    ]
    return (
        f"every user at one moment, {how}; instances created beforehand, not timed "
        f"({', '.join(created) or 'not created'})"
    )


def _rows(env: Env, load: Load, sides: Mapping[str, Side]) -> list[Figure]:
    motion, rows = sides.get(MOTION), []
    for where in (GRPC, INPROCESS):
        ours = sides[where]
        for key, what, unit in FIGURES:
            name, target = f"{load.title}, {WHERE[where]}: {what}", _target(load, where, key)
            series, baseline = _series(ours, key), _series(motion, key) if motion else None
            row = Figure(NAME, name, unit, series, baseline, target, note=_note(env, load, where, key, sides))
            if not series.values:  # Motion's figure stays beside the reason
                row.status = "failed" if ours.status == "measured" else ours.status
                row.note = series.unavailable or ""
            rows.append(row)
    limit = sides.get(LIMIT)
    for key, what, unit in FIGURES[:2] if limit else ():
        name = f"{load.title}, over gRPC: {what}, vs model-call limit"
        row = Figure(
            NAME, name, unit, _series(sides[GRPC], key), _series(limit, key), "report", note=LIMIT_NOTE
        )
        rows.append(row)
    return rows


def run(env: Env) -> list[Figure]:
    loads = [load for load in LOADS if load.users in env.profile.llm_users]
    sides = {load: _sides(env, load) for load in loads}
    for _ in range(env.profile.rounds):
        for load in loads:
            if any(sides[load][key].unavailable is None for key in (GRPC, INPROCESS)):
                interleave(1, sides[load])  # Motion too, while one of ours is still measured
    return [row for load in loads for row in _rows(env, load, sides[load])]


SCENARIO = Scenario(NAME, "LLM-shaped ops (0.2 s serve, 0.5 s update), every user at once", run)
