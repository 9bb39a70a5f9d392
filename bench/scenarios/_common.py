"""What every scenario shares: its record, rounds that interleave ours and the baselines, figures."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from bench.baselines import UnavailableError
from bench.env import MOTION_API_KEY, Env
from bench.load import LoadResult, LoadSpec, Target, run_load
from bench.report import Figure, Series, Status
from bench.stats import median

OURS = "ours"
#: The two limits every Run figure is read against, and the echo servers each is the best of.
BARE, DURABLE = "bare", "durable"
ECHO_SERVERS = {"sync": "sync grpcio", "aio": "grpc.aio"}
LIMIT_LABELS = {BARE: "bare limit", DURABLE: "durable-enqueue limit"}
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
    #: What the report must say about this side (e.g. which server a limit was, per round).
    note: str = ""

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
    notes = [side.note] if side.note else []
    failed = int(sum(values.get("errors", 0) for values in side.rounds))
    if failed:
        notes.append(f"{side.label}: {failed} calls failed")
    if side.rounds and side.unavailable:
        notes.append(f"{side.label}: stopped after {len(side.rounds)} rounds: {side.unavailable}")
    return notes


def figures(scenario: str, specs: list[FigureSpec], sides: Mapping[str, Side]) -> list[Figure]:
    return [figure(scenario, spec, sides) for spec in specs]


def per_concurrency(
    env: Env,
    sides_at: Callable[[Env, int], Mapping[str, Side]],
    rows_at: Callable[[int, Mapping[str, Side]], list[Figure]],
) -> list[Figure]:
    """Every side of every concurrency of the profile measured in one interleaving; their rows in order."""
    by_clients = {clients: sides_at(env, clients) for clients in env.profile.concurrency}
    every_side = {
        f"{clients}/{key}": side for clients, sides in by_clients.items() for key, side in sides.items()
    }
    interleave(env.profile.rounds, every_side)
    return [row for clients, sides in by_clients.items() for row in rows_at(clients, sides)]


def grpc_load(
    env: Env,
    address: Callable[[], str],
    clients: int,
    component: str = "Trivial",
    pool: tuple[str, int] | None = None,
    connection_per_client: bool = False,
) -> Measure:
    """A side measuring closed-loop Run calls (p50/p99 ms, req/s) against a gRPC server.

    With `pool` (prefix, n), every call runs a random one of n existing instances;
    `connection_per_client`: see Target.
    """

    def measure() -> Mapping[str, float]:
        target = Target("grpc", address(), component, pool=pool, connection_per_client=connection_per_client)
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


def echo_sides(env: Env, clients: int) -> dict[str, Side]:
    """Sides for every echo server, bare and durable: "bare/sync", "durable/aio", ..."""
    sides = {}
    for limit, durable in ((BARE, False), (DURABLE, True)):
        for server, label in ECHO_SERVERS.items():
            suffix = " + enqueue script" if durable else ""

            def address(server: str = server, durable: bool = durable) -> str:
                return env.echo(server, durable)

            sides[f"{limit}/{server}"] = Side(f"{label} echo{suffix}", grpc_load(env, address, clients))
    return sides


def limits(echoes: Mapping[str, Side], key: str, higher_is_better: bool) -> dict[str, Side]:
    """The bare and the durable-enqueue limit out of `echo_sides`, each the best server per round."""
    return {
        limit: best_of(
            LIMIT_LABELS[limit],
            [side for name, side in echoes.items() if name.startswith(f"{limit}/")],
            key,
            higher_is_better,
        )
        for limit in (BARE, DURABLE)
    }


def best_of(label: str, sides: Sequence[Side], key: str, higher_is_better: bool) -> Side:
    """A side whose round i is the round i of whichever of `sides` did best on `key` in it.

    Every value of a round comes from that one server (never p50 of one with p99 of another).
    """
    pick = max if higher_is_better else min
    best = Side(label, _unmeasured)
    for i in range(max((len(side.rounds) for side in sides), default=0)):
        best.rounds.append(pick((s.rounds[i] for s in sides if len(s.rounds) > i), key=lambda r: r[key]))
    medians = [
        f"{s.label} {median([r[key] for r in s.rounds]):.3f}" if s.rounds else f"{s.label} —" for s in sides
    ]
    best.note = f"{label}: per round the best {key} of " + ", ".join(medians)
    if not best.rounds:
        best.unavailable = "; ".join(f"{s.label}: {s.unavailable}" for s in sides)
        best.status = "unavailable"
    return best


def _unmeasured() -> Mapping[str, float]:
    raise RuntimeError("a limit is derived from its servers' rounds, never measured itself")
