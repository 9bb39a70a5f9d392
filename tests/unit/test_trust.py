"""The restricted unpickler: plain values load, code and size bombs are refused, quickly."""

from __future__ import annotations

import datetime
import pickle
import time
from decimal import Decimal

import pytest

from motion_grpc.errors import UntrustedDataError
from motion_grpc.trust import MAX_EXPANDED_VALUES, check_unsigned, restricted_loads


@pytest.mark.parametrize("protocol", [3, 4, 5])
def test_plain_values_load_in_every_protocol(protocol: int) -> None:
    value = {
        (1, 2): {3, 4},
        "when": datetime.datetime(2026, 1, 2, 3, 4, tzinfo=datetime.timezone.utc),
        "raw": bytearray(b"\x00\xffab"),
        "z": complex(1, -2),
        "price": Decimal("1.10"),
        "set": frozenset({"a"}),
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
