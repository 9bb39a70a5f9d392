"""Encoding of props, results and state between Python, protobuf and Redis.

Over the wire values are `google.protobuf.Value`: JSON-like data any language
can produce. Numbers there are doubles, so a whole number arrives as a Python
int (within +-2**53, where doubles are exact). In Redis, values are
cloudpickle bytes so that in-process Python users keep arbitrary objects.
"""

from __future__ import annotations

import hashlib
import math
import pickle
from collections.abc import Mapping
from typing import Any

import cloudpickle
from google.protobuf import struct_pb2

from motion_grpc.errors import InvalidArgumentError

_MAX_EXACT_INT = 2**53


class EncodeError(TypeError):
    """A Python value has no protobuf Value form."""


def to_value(obj: Any, path: str = "value") -> struct_pb2.Value:
    """Encode a JSON-like Python value (dict, list, tuple, str, number, bool, None)."""
    value = struct_pb2.Value()
    _fill_value(value, obj, path)
    return value


def _fill_value(value: struct_pb2.Value, obj: Any, path: str) -> None:
    if obj is None:
        value.null_value = struct_pb2.NULL_VALUE
    elif isinstance(obj, bool):
        value.bool_value = obj
    elif isinstance(obj, (int, float)):
        if isinstance(obj, float) and not math.isfinite(obj):
            raise EncodeError(f"{path} is {obj}, which protobuf Value cannot carry")
        value.number_value = float(obj)
    elif isinstance(obj, str):
        value.string_value = obj
    elif isinstance(obj, Mapping):
        value.struct_value.SetInParent()  # an empty dict is still a struct, not an unset Value
        _fill_struct(value.struct_value, obj, path)
    elif isinstance(obj, (list, tuple)):
        value.list_value.SetInParent()
        values = value.list_value.values
        for index, item in enumerate(obj):
            _fill_value(values.add(), item, f"{path}[{index}]")
    else:
        raise EncodeError(f"{path} is a {type(obj).__name__}, which has no protobuf Value form")


def _fill_struct(struct: struct_pb2.Struct, obj: Mapping[Any, Any], path: str) -> None:
    for key, item in obj.items():
        if not isinstance(key, str):
            raise EncodeError(f"{path} has a {type(key).__name__} key; Struct keys must be strings")
        _fill_value(struct.fields[key], item, f"{path}.{key}")


def to_struct(obj: Mapping[str, Any], path: str = "value") -> struct_pb2.Struct:
    """Encode a dict with string keys and JSON-like values."""
    struct = struct_pb2.Struct()
    _fill_struct(struct, obj, path)
    return struct


def from_value(value: struct_pb2.Value) -> Any:  # noqa: PLR0911 - one return per kind
    """Decode a Value; whole-number doubles become ints."""
    kind = value.WhichOneof("kind")
    if kind == "number_value":
        number = value.number_value
        if number.is_integer() and abs(number) <= _MAX_EXACT_INT:
            return int(number)
        return number
    if kind == "string_value":
        return value.string_value
    if kind == "bool_value":
        return value.bool_value
    if kind == "struct_value":
        return from_struct(value.struct_value)
    if kind == "list_value":
        return [from_value(item) for item in value.list_value.values]
    return None


def from_struct(struct: struct_pb2.Struct) -> dict[str, Any]:
    """Decode a Struct into a dict."""
    return {key: from_value(item) for key, item in struct.fields.items()}


def dumps(obj: Any) -> bytes:
    """Serialize for Redis (and for the opt-in pickle path).

    Plain pickle first (several times faster for the dicts, lists and strings
    most state is made of), cloudpickle for what it cannot handle (lambdas,
    classes defined in an app module loaded by path).
    """
    try:
        return pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:
        data: bytes = cloudpickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
        return data


def loads(data: bytes) -> Any:
    """Deserialize what `dumps` wrote. Never call on bytes from an untrusted client."""
    return pickle.loads(data)


def loads_client_pickle(data: bytes, what: str) -> Any:
    """Unpickle bytes a trusted client sent, turning failures into INVALID_ARGUMENT."""
    try:
        return pickle.loads(data)
    except Exception as exc:
        raise InvalidArgumentError(f"{what} is not valid cloudpickle data: {type(exc).__name__}") from exc


def props_digest(flow: str, props: Mapping[str, Any]) -> str | None:
    """A digest of (flow, props) that is stable across processes and dict order.

    Returns None when the props cannot be canonicalized (the run is then
    served uncached rather than cached under a lossy key).
    """
    hasher = hashlib.blake2b(digest_size=16)
    hasher.update(flow.encode())
    hasher.update(b"\0")
    try:
        _feed(hasher, props)
    except _Unhashable:
        return None
    return hasher.hexdigest()


class _Unhashable(Exception):
    pass


def _feed(hasher: Any, obj: Any) -> None:  # noqa: C901, PLR0912 - one branch per type
    if obj is None:
        hasher.update(b"N")
    elif isinstance(obj, bool):
        hasher.update(b"T" if obj else b"F")
    elif isinstance(obj, int):
        hasher.update(b"i%d;" % obj)
    elif isinstance(obj, float):
        if obj.is_integer() and abs(obj) <= _MAX_EXACT_INT:
            hasher.update(b"i%d;" % int(obj))  # 1.0 and 1 are the same prop value
        else:
            hasher.update(b"f" + repr(obj).encode() + b";")
    elif isinstance(obj, str):
        data = obj.encode()
        hasher.update(b"s%d:" % len(data) + data)
    elif isinstance(obj, bytes):
        hasher.update(b"b%d:" % len(obj) + obj)
    elif isinstance(obj, Mapping):
        try:
            items = sorted(obj.items())
        except TypeError as exc:
            raise _Unhashable from exc
        hasher.update(b"d%d:" % len(items))
        for key, item in items:
            _feed(hasher, key)
            _feed(hasher, item)
    elif isinstance(obj, (list, tuple)):
        hasher.update(b"l%d:" % len(obj))
        for item in obj:
            _feed(hasher, item)
    elif hasattr(obj, "tobytes") and hasattr(obj, "dtype") and hasattr(obj, "shape"):
        # numpy-like arrays: hash dtype, shape and the full buffer, never a truncated repr
        hasher.update(f"a{obj.dtype}{obj.shape}:".encode())
        hasher.update(obj.tobytes())
    else:
        raise _Unhashable
