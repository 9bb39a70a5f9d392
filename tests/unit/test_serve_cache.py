"""This process's copies of serve cache entries: exact version, expiry, and bounds."""

from __future__ import annotations

from motion_grpc import codec, trust
from motion_grpc.engine.serve_cache import KnownResults, cache_hit, cached_answer
from motion_grpc.store.keys import InstanceKeys
from motion_grpc.store.records import cache_value, now_ms

KEYS = InstanceKeys.of("C", "i")


def _entry(version: int, result: object, ttl_ms: int = 60_000) -> bytes:
    return cache_value(version, now_ms() + ttl_ms, codec.dumps(result))


def test_a_copy_answers_its_own_version_until_it_expires() -> None:
    known = KnownResults()
    known.remember(KEYS, "f", _entry(3, {"a": [1]}))
    known.remember(KEYS, "old", _entry(3, "gone", ttl_ms=-1))
    hit = known.hit(KEYS, "f", 3)
    assert hit is not None and hit == (3, {"a": [1]}, None)
    hit.result["a"].append(2)  # each hit is a fresh copy: a caller's change stays its own
    assert known.hit(KEYS, "f", 3) == (3, {"a": [1]}, None)
    assert known.hit(KEYS, "f", 4) is None and known.hit(KEYS, "f", 2) is None
    assert known.hit(KEYS, "old", 3) is None and known.hit(KEYS, None, 3) is None
    assert known.hit(InstanceKeys.of("C", "other"), "f", 3) is None


def test_copies_are_bounded_by_count_and_bytes_the_oldest_going_first() -> None:
    known = KnownResults(max_entries=3, max_bytes=10_000, max_entry=4_000)
    for n in range(4):
        known.remember(KEYS, f"f{n}", _entry(1, n))
    assert [known.hit(KEYS, f"f{n}", 1) is not None for n in range(4)] == [False, True, True, True]
    known.remember(KEYS, "huge", _entry(1, "x" * 5_000))  # over the largest entry copied
    assert known.hit(KEYS, "huge", 1) is None
    for n in range(3):
        known.remember(KEYS, f"big{n}", _entry(1, "x" * 3_500))  # 3 of these exceed 10,000 bytes
    assert [known.hit(KEYS, f"big{n}", 1) is not None for n in range(3)] == [False, True, True]


def test_an_entry_keeps_the_props_its_serve_op_left_when_they_differ() -> None:
    sent = {"q": "x"}
    plain = cache_hit(cache_value(3, now_ms() + 60_000, cached_answer("a", sent, dict(sent))), 3)
    assert plain == (3, "a", None)
    served = {"q": "x", "retrieved": ["doc"]}
    hit = cache_hit(cache_value(3, now_ms() + 60_000, cached_answer("a", sent, served)), 3)
    assert hit == (3, "a", served)


def test_an_answer_signed_with_a_state_secret_is_told_apart_from_one_with_props() -> None:
    """A result that is not JSON is a signed pickle when a secret is set: its first byte is the
    signed tag, which must not read as the tag of an answer stored with its props."""
    trust.configure(trust.Trust((b"s" * 32,), load_unsigned=False))
    try:
        sent = {"q": "x"}
        for result in [(1, 2), {1, 2}]:
            stored = cached_answer(result, sent, dict(sent))
            assert cache_hit(cache_value(3, now_ms() + 60_000, stored), 3) == (3, result, None)
            stored = cached_answer(result, sent, {**sent, "more": 1})
            assert cache_hit(cache_value(3, now_ms() + 60_000, stored), 3) == (3, result, {**sent, "more": 1})
    finally:
        trust.configure(None)
