"""Op times: which ops count as cheap, and when that changes."""

from __future__ import annotations

from motion_grpc.engine.op_times import OpTimes


def test_the_generation_moves_only_when_an_op_is_first_timed_or_turns_fast_or_slow() -> None:
    times = OpTimes(0.001)
    start = times.generation
    times.record("C", "f\0op", 0.0001)
    assert (times.timed("C", "f\0op"), times.is_fast("C", "f\0op")) == (True, True)
    first = times.generation
    assert first > start
    for _ in range(20):
        times.record("C", "f\0op", 0.0002)  # still cheap: what was derived from it still holds
    assert times.generation == first
    while times.is_fast("C", "f\0op"):
        times.record("C", "f\0op", 0.05)  # turns slow
    assert times.generation > first
    slow = times.generation
    times.record("C", "f\0op", 0.05)
    assert times.generation == slow
