"""The restricted unpickler: plain values load, code and size bombs are refused, quickly."""

from __future__ import annotations

import datetime
import pickle
import subprocess
import sys
import time
from collections import OrderedDict
from decimal import Decimal

import pytest

from motion_grpc.errors import UntrustedDataError
from motion_grpc.plain_pickle import MAX_EXPANDED_VALUES, MAX_NESTING
from motion_grpc.trust import check_unsigned, restricted_loads


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_plain_values_load_in_every_protocol(protocol: int) -> None:
    value = {
        (1, 2): {3, 4},
        "when": datetime.datetime(2026, 1, 2, 3, 4, tzinfo=datetime.timezone.utc),
        "raw": bytearray(b"\x00\xffab"),
        "z": complex(1, -2),
        "price": Decimal("1.10"),
        "set": frozenset({"a"}),
        "empty": (b"", bytearray(), frozenset(), set(), ()),
        "more": [
            OrderedDict(a=1),
            datetime.date(2026, 1, 2),
            datetime.time(1, 2),
            datetime.timedelta(days=3),
            datetime.timezone(datetime.timedelta(hours=2), "X"),
            2**3000,
            -(2**70),
            b"x" * 300,
            "\u00e9" * 300,
            1.5,
            None,
            True,
        ],
    }
    assert restricted_loads(pickle.dumps(value, protocol=protocol)) == value


def test_a_bytearray_of_a_size_is_refused_without_allocating_it() -> None:
    bomb = b"\x80\x04cbuiltins\nbytearray\nJ\x00\x00\x00\xc0\x85R."  # bytearray(3 GiB), 30 bytes
    started = time.monotonic()
    with pytest.raises(UntrustedDataError, match="bytearray of a size"):
        restricted_loads(bomb)
    assert time.monotonic() - started < 5  # refused, not allocated and then refused


def test_shared_references_that_expand_past_the_limit_are_refused() -> None:
    nested: list[object] = [0]
    for _ in range(40):  # 2**40 items once walked, a few hundred bytes as a pickle
        nested = [nested, nested]
    bomb = pickle.dumps(nested, protocol=pickle.HIGHEST_PROTOCOL)
    assert len(bomb) < 1000
    with pytest.raises(UntrustedDataError, match="expand past"):
        restricted_loads(bomb)
    with pytest.raises(UntrustedDataError, match="read back only when signed"):
        check_unsigned(bomb)  # a process without a secret does not store what it could not read back


def test_sharing_within_the_limit_loads() -> None:
    row = (1, 2, 3)
    table = [row] * (MAX_EXPANDED_VALUES // 5)
    assert restricted_loads(pickle.dumps(table, protocol=pickle.HIGHEST_PROTOCOL)) == table


def test_a_pickle_naming_code_is_refused_by_name() -> None:
    data = pickle.dumps(time.sleep, protocol=pickle.HIGHEST_PROTOCOL)
    with pytest.raises(UntrustedDataError, match=r"time\.sleep"):
        restricted_loads(data)
    with pytest.raises(UntrustedDataError, match=r"naming time\.sleep can be stored only"):
        check_unsigned(data)


def _loaded_in_a_child(data: bytes) -> str:
    """What restricted_loads does with `data` in a process of its own: a bomb that crashed or hung
    the loader must fail this test, not the test run."""
    code = (
        "import sys\n"
        "from motion_grpc.errors import UntrustedDataError\n"
        "from motion_grpc.trust import restricted_loads\n"
        "try:\n"
        "    restricted_loads(sys.stdin.buffer.read())\n"
        "    print('loaded')\n"
        "except UntrustedDataError as exc:\n"
        "    print(exc.message)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], input=data, capture_output=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    return done.stdout.decode()


def test_a_tuple_whose_hash_never_ends_is_refused_before_loading() -> None:
    nested: tuple[object, ...] = ()
    for _ in range(60):  # hashing it walks 2**60 tuples: 3.11 keeps no tuple hash
        nested = (nested, nested)
    body = pickle.dumps(nested, protocol=2)[2:-1]  # no PROTO, no STOP
    bomb = b"\x80\x04(" + body + b"\x91."  # frozenset({nested}): the load hashes it
    assert len(bomb) < 1000
    assert "hashes more than" in _loaded_in_a_child(bomb)


def _tuple_bomb() -> bytes:
    nested: tuple[object, ...] = ()
    for _ in range(60):
        nested = (nested, nested)
    return pickle.dumps(nested, protocol=2)[2:-1]


@pytest.mark.parametrize(
    "bomb",
    [
        pytest.param(b"\x80\x04(\x95" + b"\0" * 8 + _tuple_bomb() + b"Nd.", id="frame-in-a-dict"),
        pytest.param(b"\x80\x04(\x80\x04" + _tuple_bomb() + b"N\x90.", id="proto-in-a-set"),
        pytest.param(
            b"\x80\x04(\x95" + b"\0" * 8 + b")" + b"\x85" * 400_000 + b"N\x90.", id="deep-after-frame"
        ),
        pytest.param(
            b"\x80\x04ccollections\nOrderedDict\n((" + _tuple_bomb() + b"Nll\x85R.", id="list-pairs"
        ),
        pytest.param(b"\x80\x04(cbuiltins\nset\n]" + _tuple_bomb() + b"ao.", id="obj"),
        pytest.param(b"\x80\x04ccollections\nOrderedDict\n)R}b.", id="build"),
        pytest.param(b"\x80\x04Nr\x00\x00\x00\x04.", id="memo-skipping-ahead"),
        pytest.param(b"\x80\x04\x8b\x00\x00\x10\x00" + b"\x01" * 0x100000 + b".", id="int-of-a-megabyte"),
        pytest.param(b"\x80\x04)" + b"\x85" * 5_000_000 + b".", id="five-million-nested"),
        pytest.param(b"\x80\x04(" + b"]" * 3_000_000 + b"l.", id="three-million-lists"),
    ],
)
def test_a_pickle_that_would_take_unbounded_work_is_refused(bomb: bytes) -> None:
    assert "refused" in _loaded_in_a_child(bomb)


def test_tuples_nested_past_the_c_stack_are_refused_before_loading() -> None:
    bomb = b"\x80\x04()" + b"\x85" * 400_000 + b"\x91."  # frozenset of 400,000 nested tuples
    assert "nesting values deeper than" in _loaded_in_a_child(bomb)


def test_a_deeply_nested_value_is_refused_once_loaded() -> None:
    bomb = b"\x80\x04)" + b"\x85" * (MAX_NESTING + 5) + b"."  # nothing hashed while loading
    with pytest.raises(UntrustedDataError, match="nesting values deeper than"):
        restricted_loads(bomb)


def test_nesting_python_can_pickle_loads() -> None:
    value: object = "leaf"
    for depth in range(500):
        value = [value] if depth % 2 else (value,)
    keyed = {frozenset({(1, (2, (3,)))}): value}
    assert restricted_loads(pickle.dumps(keyed)) == keyed


@pytest.mark.parametrize("data", [b"\x80\x04", b"\x80\x04a.", b"\x80\x04(.", b"\x80\x04\xff."])
def test_a_malformed_pickle_is_an_unpickling_error(data: bytes) -> None:
    with pytest.raises(pickle.UnpicklingError):
        restricted_loads(data)


def test_a_large_plain_value_stores_and_loads() -> None:
    start = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
    value = {n: start + datetime.timedelta(seconds=n) for n in range(300_000)}  # 600,001 items
    data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    check_unsigned(data)
    assert restricted_loads(data) == value


def test_a_list_grown_after_it_was_shared_is_counted_as_it_ends() -> None:
    """frozenset(items) hashes what `items` holds when the set is built, not when it was first shared."""
    nested: tuple[object, ...] = ()
    for _ in range(21):  # 2**21 tuples to hash
        nested = (nested, nested)
    body = pickle.dumps(nested, protocol=2)[2:-1]
    bomb = (
        b"\x80\x04cbuiltins\nfrozenset\n]q\x00\x85"  # frozenset, ([]: memo 0,) ... the list still empty
        + b"h\x00" + body + b"a0"  # memo 0 .append(nested); pop the list
        + b"R."  # frozenset([nested]): hashes 2**21 tuples
    )  # fmt: skip
    assert "hashes more than" in _loaded_in_a_child(bomb)
