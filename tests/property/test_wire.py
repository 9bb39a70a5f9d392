"""Every RPC against raw bytes: garbage, truncated and corrupted messages, bad UTF-8, deep nesting.

Bytes that do not parse must answer INVALID_ARGUMENT (never UNKNOWN or
INTERNAL); bytes that happen to parse get the verdict of the request they
parse to.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.property import wire
from tests.property.calls import call, check
from tests.property.oracle import METHODS, verdict_on_bytes
from tests.property.server import FuzzServer

#: Explicit inputs each RPC always gets, whatever hypothesis draws.
PINNED = (
    b"\xff\xff\xff\xff",
    b"\x0a\xff\xff\xff\xff\x0f",  # field 1 with a length past the end
    wire.ref(b"Echo", b"\xff\xfe"),
    wire.ref(b"\xc0\xaf", b"live-0"),
)
DEEP = tuple(wire.deep_struct_request(depth, 3) for depth in (49, 100, 1000, 10_000))


@pytest.mark.parametrize("name", sorted(METHODS))
@given(data=st.data())
def test_hostile_bytes(fuzz_server: FuzzServer, name: str, data: st.DataObject) -> None:
    method = METHODS[name]
    payload = data.draw(wire.hostile_bytes(method), label="request bytes")
    answer = call(fuzz_server.channel, method, payload)
    check(fuzz_server, method, answer, verdict_on_bytes(method, payload), " (bytes)")


@pytest.mark.parametrize("name", sorted(METHODS))
@pytest.mark.parametrize("payload", PINNED, ids=["ff", "overlong", "bad-utf8-id", "bad-utf8-component"])
def test_pinned_bytes(fuzz_server: FuzzServer, name: str, payload: bytes) -> None:
    """The pinned inputs, every one on every RPC (hypothesis may not draw them all)."""
    method = METHODS[name]
    answer = call(fuzz_server.channel, method, payload)
    check(fuzz_server, method, answer, verdict_on_bytes(method, payload), " (bytes)")


@pytest.mark.parametrize("name", ["Run", "RunStream"])
@pytest.mark.parametrize("payload", DEEP, ids=["deep49", "deep100", "deep1000", "deep10000"])
def test_deep_props(fuzz_server: FuzzServer, name: str, payload: bytes) -> None:
    method = METHODS[name]
    answer = call(fuzz_server.channel, method, payload)
    check(fuzz_server, method, answer, verdict_on_bytes(method, payload), " (bytes)")
