"""The bench's limits: each is the best echo server of each round, and every Run row is read against it.

No servers here: sides carry the rounds a run would have measured.
"""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from bench.echo_server import enqueue_keys
from bench.rpc import run_request
from bench.scenarios import SCENARIOS, latency, processes, throughput
from bench.scenarios._common import BARE, DURABLE, Side, best_of, limits


def _side(label: str, *rounds: Mapping[str, float]) -> Side:
    side = Side(label, lambda: {})
    side.rounds = list(rounds)
    return side


def _ms(p50: float, p99: float) -> dict[str, float]:
    return {"p50_ms": p50, "p99_ms": p99}


def _echoes(bare: tuple[Side, Side], durable: tuple[Side, Side]) -> dict[str, Side]:
    return {"bare/sync": bare[0], "bare/aio": bare[1], "durable/sync": durable[0], "durable/aio": durable[1]}


def test_a_limit_takes_each_round_whole_from_the_server_best_in_that_round() -> None:
    sync = _side("sync", _ms(0.3, 9.0), _ms(0.5, 1.0))
    aio = _side("aio", _ms(0.4, 2.0), _ms(0.4, 3.0))
    best = best_of("bare limit", [sync, aio], "p50_ms", higher_is_better=False)
    assert best.rounds == [_ms(0.3, 9.0), _ms(0.4, 3.0)]  # never sync's p50 beside aio's p99
    assert best.note == "bare limit: per round the best p50_ms of sync 0.400, aio 0.400"


def test_throughput_picks_the_higher_and_a_missing_server_leaves_the_other() -> None:
    down = _side("sync")
    down.unavailable = "exited with 1"
    up = _side("aio", {"throughput": 900.0}, {"throughput": 1000.0})
    best = best_of("bare limit", [down, up], "throughput", higher_is_better=True)
    assert [r["throughput"] for r in best.rounds] == [900.0, 1000.0]
    assert best.unavailable is None
    nothing = best_of("bare limit", [down, down], "throughput", higher_is_better=True)
    assert (nothing.status, nothing.unavailable) == (
        "unavailable",
        "sync: exited with 1; sync: exited with 1",
    )


def test_run_latency_rows_read_against_both_limits_with_the_issue_targets() -> None:
    ours = _side("motion-grpc", _ms(1.2, 4.0), _ms(1.4, 5.0))
    bare = (_side("sync", _ms(0.3, 1.0), _ms(0.35, 1.0)), _side("aio", _ms(0.4, 2.0), _ms(0.3, 2.0)))
    durable = (_side("sync+", _ms(0.6, 2.0), _ms(0.7, 2.0)), _side("aio+", _ms(0.5, 2.5), _ms(0.8, 2.5)))
    motion = _side("Motion", _ms(2.0, 3.0), _ms(2.0, 3.0))
    rows = {row.name: row for row in latency.grpc_figures(ours, _echoes(bare, durable), motion)}
    p50_durable = rows["Run p50, 1 client, vs durable-enqueue limit"]
    assert p50_durable.ratios() == pytest.approx([1.2 / 0.5, 1.4 / 0.7])
    assert p50_durable.target == "<= 1.3x (stretch 1.15x)"
    assert rows["Run p50, 1 client, vs bare limit"].ratios() == pytest.approx([1.2 / 0.3, 1.4 / 0.3])
    assert rows["Run p99, 1 client, vs durable-enqueue limit"].ratios() == pytest.approx(
        [4.0 / 2.5, 5.0 / 2.0]
    )
    assert rows["Run p99, 1 client, vs bare limit"].ratios() == pytest.approx([4.0 / 1.0, 5.0 / 2.0])


def test_throughput_rows_at_each_concurrency_read_against_the_durable_limit() -> None:
    def load(rps: float) -> dict[str, float]:
        return {"throughput": rps, "p50_ms": 1.0, "p99_ms": 1000.0 / rps}

    sides = {
        "ours": _side("motion-grpc", load(600.0)),
        "motion": _side("Motion HTTP", load(60.0)),
        **_echoes(
            (_side("sync", load(3000.0)), _side("aio", load(2500.0))),
            (_side("s", load(2000.0)), _side("a", load(2400.0))),
        ),
    }
    for clients in (8, 32):
        rows = {row.name: row for row in throughput.clients_figures(clients, sides)}
        durable = rows[f"Run throughput, {clients} clients, vs durable-enqueue limit"]
        assert (durable.ratios(), durable.target) == ([0.25], ">= 0.6x")
        assert rows[f"Run throughput, {clients} clients, vs bare limit"].ratios() == [0.2]
        assert rows[f"Run p99, {clients} clients, vs durable-enqueue limit"].ratios() == pytest.approx([4.0])


def test_the_limits_are_built_from_their_own_servers_only() -> None:
    sides = {
        "ours": _side("ours", _ms(0.1, 0.1)),
        **_echoes(
            (_side("sync", _ms(0.3, 1.0)), _side("aio", _ms(0.4, 1.0))),
            (_side("sync+", _ms(0.6, 1.0)), _side("aio+", _ms(0.5, 1.0))),
        ),
    }
    built = limits(sides, "p50_ms", higher_is_better=False)
    assert [r["p50_ms"] for r in built[BARE].rounds] == [0.3]
    assert [r["p50_ms"] for r in built[DURABLE].rounds] == [0.5]


def test_the_processes_scenario_reports_two_processes_beside_one() -> None:
    sides = {
        "ours": _side("2", {"throughput": 900.0, "p99_ms": 5.0}),
        "one": _side("1", {"throughput": 600.0, "p99_ms": 4.0}),
    }
    rows = {row.name: row for row in processes.clients_figures(8, sides)}
    assert rows["Run throughput, 8 clients, 2 processes vs 1"].ratios() == [1.5]
    assert rows["Run p99, 8 clients, 2 processes vs 1"].ratios() == [1.25]
    assert "processes" in SCENARIOS


def test_the_enqueue_keys_share_one_hash_tag_per_instance() -> None:
    request = run_request("Trivial", "user-1", "add", {"value": 3}).SerializeToString()
    queue, meta = enqueue_keys(request)
    assert queue.split("}")[0] == meta.split("}")[0] == "{echo:Trivial:user-1"
    assert queue != meta
