"""The serving process's garbage collector once the server has started (server.collector)."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from motion_grpc.server import collector


@pytest.fixture
def restored_collector() -> Iterator[None]:
    threshold = gc.get_threshold()
    try:
        yield
    finally:
        gc.unfreeze()
        gc.set_threshold(*threshold)


def test_settle_freezes_what_exists_and_spaces_out_young_collections(restored_collector: None) -> None:
    gc.set_threshold(700, 10, 10)
    collector.settle()
    assert gc.get_freeze_count() > 0
    assert gc.get_threshold() == (collector.YOUNG_THRESHOLD, 10, 10)


def test_settle_keeps_a_larger_threshold_and_a_disabled_collector(restored_collector: None) -> None:
    gc.set_threshold(collector.YOUNG_THRESHOLD * 2, 5, 5)
    collector.settle()
    assert gc.get_threshold() == (collector.YOUNG_THRESHOLD * 2, 5, 5)
    gc.set_threshold(0, 10, 10)
    collector.settle()
    assert gc.get_threshold() == (0, 10, 10)


def test_cycles_are_still_collected_after_settle_without_being_asked(restored_collector: None) -> None:
    collector.settle()

    class Node:
        other: object

    first, second = Node(), Node()
    first.other, second.other = second, first
    gone = weakref.ref(first)
    del first, second
    kept = [[] for _ in range(3 * collector.YOUNG_THRESHOLD)]  # tracked allocations: the collector runs
    assert gone() is None
    del kept
