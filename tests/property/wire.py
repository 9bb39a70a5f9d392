"""Hostile request bytes: garbage, truncated and corrupted messages, invalid UTF-8, deep nesting.

The deep and invalid-UTF-8 messages are encoded by hand (protobuf's wire format
is simple), since the protobuf library refuses to build some of them and takes
quadratic time to build the deepest ones.
"""

from __future__ import annotations

from hypothesis import strategies as st

from tests.property.oracle import Method
from tests.property.strategies import REQUESTS

_VARINT, _LEN = 0, 2


def varint(number: int) -> bytes:
    out = bytearray()
    while True:
        byte, number = number & 0x7F, number >> 7
        out.append(byte | (0x80 if number else 0))
        if not number:
            return bytes(out)


def field(number: int, payload: bytes) -> bytes:
    """A length-delimited field (string, bytes, or embedded message)."""
    return varint(number << 3 | _LEN) + varint(len(payload)) + payload


def ref(component: bytes, instance_id: bytes) -> bytes:
    """An InstanceRef as field 1 of a request (every instance-scoped request has it there)."""
    return field(1, field(1, component) + field(2, instance_id))


def deep_value(depth: int) -> bytes:
    """A google.protobuf.Value holding lists `depth` deep (ListValue.values = 1, Value.list_value = 6)."""
    value = field(3, b"leaf")  # Value.string_value
    for _ in range(depth):
        value = field(6, field(1, value))
    return value


def deep_struct_request(depth: int, struct_field: int) -> bytes:
    """A request whose Struct (props of Run, patch of WriteState: field 3 or 2) nests `depth` deep."""
    entry = field(1, b"deep") + field(2, deep_value(depth))  # Struct.fields map entry
    flow = field(2, b"echo") if struct_field == 3 else b""
    return ref(b"Echo", b"live-0") + flow + field(struct_field, field(1, entry))


INVALID_UTF8 = (b"\xff", b"\xc0\xaf", b"\xed\xa0\x80", b"a\x80b", b"\xf4\x90\x80\x80", b"\xe2\x82")


def invalid_utf8_requests() -> st.SearchStrategy[bytes]:
    """Instance-scoped requests whose component or instance id is not valid UTF-8."""
    bad = st.sampled_from(INVALID_UTF8)
    return st.one_of(
        st.builds(lambda b: ref(b"Echo", b), bad),
        st.builds(lambda b: ref(b, b"live-0"), bad),
    )


def _truncate(data: bytes, cut: int) -> bytes:
    return data[: cut % max(len(data), 1)]


def _corrupt(data: bytes, position: int, byte: int) -> bytes:
    if not data:
        return bytes([byte])
    index = position % len(data)
    return data[:index] + bytes([byte]) + data[index + 1 :]


def hostile_bytes(method: Method) -> st.SearchStrategy[bytes]:
    """Bytes sent as `method`'s request: mostly malformed, some that parse after all."""
    valid = REQUESTS[method.name]().map(lambda request: request.SerializeToString())
    shapes = [
        st.binary(max_size=300),
        st.builds(_truncate, valid, st.integers(0, 2**16)),
        st.builds(_corrupt, valid, st.integers(0, 2**16), st.integers(0, 255)),
        st.builds(lambda n: varint(n << 3 | _LEN) + varint(2**31), st.integers(1, 20)),  # length past the end
        st.builds(lambda n: b"\xff" * n, st.integers(1, 20)),  # a varint that never ends
    ]
    if method.name not in ("DescribeComponents", "ListInstances"):
        shapes.append(invalid_utf8_requests())
    if method.name in ("Run", "RunStream", "WriteState"):
        struct_field = 2 if method.name == "WriteState" else 3
        shapes.append(st.builds(deep_struct_request, st.integers(40, 20_000), st.just(struct_field)))
    return st.one_of(*shapes)
