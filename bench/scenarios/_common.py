"""What every scenario shares: its record, rounds that interleave ours and the baselines, figures."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from bench.baselines import UnavailableError
from bench.env import MOTION_API_KEY, Env
from bench.load import LoadResult, LoadSpec, Target, run_load
from bench.report import Figure, Series, Status

OURS = "ours"
Measure = Callable[[], Mapping[str, float]]


@dataclass(frozen=True)
class Scenario:
    """A named group of figures; `run` measures them all."""

    name: str
    description: str
    run: Callable[[Env], list[Figure]]


@dataclass
class Side:
    """One contender of a scenario: what it measures per round, and what it measured."""

    label: str
    measure: Measure
    rounds: list[Mapping[str, float]] = field(default_factory=list)
    unavailable: str | None = None
    status: Status = "measured"

    def series(self, key: str) -> Series:
        return Series(self.label, [values[key] for values in self.rounds], self.unavailable)


def interleave(rounds: int, sides: Mapping[str, Side]) -> Mapping[str, Side]:
    """Measure every side once per round, in turn, so ours and its baselines share the conditions.

    A side that fails stops being measured; its error is kept as the reason.
    """
    for _ in range(rounds):
        for side in sides.values():
            if side.unavailable is not None:
                continue
            try:
                side.rounds.append(side.measure())
            except Exception as exc:  # a baseline failing must not end the run: report why
                missing = isinstance(exc, UnavailableError)
                side.unavailable = str(exc) if missing else f"{type(exc).__name__}: {exc}"
                side.status = "unavailable" if missing else "failed"
    return sides


@dataclass(frozen=True)
class FigureSpec:
    """How to read one figure out of the sides of a scenario."""

    name: str
    unit: str
    key: str
    baseline: str | None = None
    target: str = "—"
    note: str = ""


def figure(scenario: str, spec: FigureSpec, sides: Mapping[str, Side]) -> Figure:
    ours = sides[OURS]
    baseline = sides[spec.baseline] if spec.baseline else None
    row = Figure(
        scenario,
        spec.name,
        spec.unit,
        ours.series(spec.key),
        baseline.series(spec.key) if baseline else None,
        spec.target,
    )
    if not ours.rounds:
        row.status, row.note = ours.status, ours.unavailable or "no rounds measured"
    else:
        row.note = "; ".join(filter(None, [spec.note, *_side_notes(ours), *_side_notes(baseline)]))
    return row


def _side_notes(side: Side | None) -> list[str]:
    """What the table must not hide: failed calls (left out of the latencies), a side that stopped early."""
    if side is None:
        return []
    notes = []
    failed = int(sum(values.get("errors", 0) for values in side.rounds))
    if failed:
        notes.append(f"{side.label}: {failed} calls failed")
    if side.rounds and side.unavailable:
        notes.append(f"{side.label}: stopped after {len(side.rounds)} rounds: {side.unavailable}")
    return notes


def figures(scenario: str, specs: list[FigureSpec], sides: Mapping[str, Side]) -> list[Figure]:
    return [figure(scenario, spec, sides) for spec in specs]


def grpc_load(
    env: Env,
    address: Callable[[], str],
    clients: int,
    component: str = "Trivial",
    pool: tuple[str, int] | None = None,
) -> Measure:
    """A side measuring closed-loop Run calls (p50/p99 ms, req/s) against a gRPC server.

    With `pool` (prefix, n), every call runs a random one of n existing instances.
    """

    def measure() -> Mapping[str, float]:
        target = Target("grpc", address(), component=component, pool=pool)
        return load_figures(run_load(_spec(env, target, clients)))

    return measure


def _spec(env: Env, target: Target, clients: int) -> LoadSpec:
    profile = env.profile
    processes = min(clients, profile.client_processes)
    return LoadSpec(target, clients, processes, profile.duration, profile.warmup, env.unique("load"))


def http_load(env: Env, clients: int) -> Measure:
    """A side measuring closed-loop runs against Motion's FastAPI Application."""

    def measure() -> Mapping[str, float]:
        target = Target("motion-http", env.motion_http(), api_key=MOTION_API_KEY)
        return load_figures(run_load(_spec(env, target, clients)))

    return measure


def load_figures(result: LoadResult) -> Mapping[str, float]:
    summary = result.summary()
    return {**summary.as_ms(), "throughput": result.throughput, "errors": float(result.errors)}
