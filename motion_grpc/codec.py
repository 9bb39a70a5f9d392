"""Encoding of props, results and state between Python, protobuf and Redis.

Over the wire values are `google.protobuf.Value`: JSON-like data any language
can produce. Numbers there are doubles, so a whole number arrives as a Python
int (within +-2**53, where doubles are exact); NaN and Infinity are refused
both ways (JSON has neither, and a NaN in state would fail every later read).
Lists and dicts nest at most MAX_DEPTH deep. In Redis, JSON-like values are
stored as JSON (readable by any tool, and loading them runs no code); other
values as pickles, which a replica loads only as motion_grpc.trust allows.

Errors name the path of the bad value (`props['a'][2]`). The path is built
only when something is wrong: the recursion raises `_Bad`, and each level adds
its key or index while the error travels up.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import pickle
from collections.abc import Callable, Mapping
from typing import Any

import cloudpickle
from google.protobuf import struct_pb2

from motion_grpc import trust
from motion_grpc.errors import InvalidArgumentError, UntrustedDataError
from motion_grpc.logs import RateLimitedLog, excerpt
from motion_grpc.names import describe_char

_MAX_EXACT_INT = 2**53
#: Refused values read from Redis are logged: someone wrote them there.
_refusals = RateLimitedLog(logging.getLogger(__name__))

#: Deepest nesting of lists and dicts in a Value, decoded or encoded. protobuf's
#: parser stops at 100 message levels (about 48 nested lists in a request); staying
#: well below gives the clearer error, and keeps every recursion here shallow.
MAX_DEPTH = 32

#: How much of each dict key an error path shows.
_KEY_ECHO = 40

#: Items (the lengths of every list, tuple, set and dict in a value, summed) past which encoding a
#: value takes milliseconds of Python: about a microsecond each, as a Value or for Redis.
LARGE_ITEMS = 4096

_CONTAINERS = (dict, list, tuple, set, frozenset)


class EncodeError(TypeError):
    """A Python value has no protobuf Value form.

    `error_type` names the kind of problem as an exception type: "TypeError"
    for a type Value cannot carry, "ValueError" for a value it cannot (NaN,
    Infinity, nesting too deep, a string that is not valid Unicode).
    """

    def __init__(self, message: str, error_type: str = "TypeError") -> None:
        super().__init__(message)
        self.error_type = error_type


class _Bad(Exception):
    """A value Value cannot carry; `segments` is its path, innermost first."""

    def __init__(self, problem: str, error_type: str = "ValueError") -> None:
        super().__init__(problem)
        self.problem = problem
        self.error_type = error_type
        self.segments: list[str | int] = []

    def message(self, root: str) -> str:
        path = "".join(f"[{excerpt(s, _KEY_ECHO)}]" for s in reversed(self.segments))
        return f"{root}{path} {self.problem}"


def _check_depth(depth: int) -> None:
    if depth > MAX_DEPTH:
        raise _Bad(f"nests lists and dicts more than {MAX_DEPTH} deep (or holds itself)")


def _check_finite(number: float) -> None:
    if not math.isfinite(number):
        raise _Bad(f"is {number}; numbers must be finite (JSON has no NaN or Infinity)")


# -- Python -> Value ----------------------------------------------------------------


def is_large(obj: Any, limit: int = LARGE_ITEMS) -> bool:
    """Whether `obj` holds more than `limit` items in all: one encoded on the event loop would hold
    up every other call there. The walk stops at the limit, so it costs little either way."""
    if not isinstance(obj, _CONTAINERS):
        return False
    budget = limit
    pending = [obj]
    while pending:
        container = pending.pop()
        budget -= len(container)
        if budget < 0:
            return True
        items = container.values() if isinstance(container, dict) else container
        pending.extend(item for item in items if isinstance(item, _CONTAINERS))
    return False


def to_value(obj: Any, path: str = "value") -> struct_pb2.Value:
    """Encode a JSON-like Python value (dict, list, tuple, str, number, bool, None)."""
    value = struct_pb2.Value()
    _encode(_fill_value, value, obj, 0, path)
    return value


def to_struct(obj: Mapping[str, Any], path: str = "value") -> struct_pb2.Struct:
    """Encode a dict with string keys and JSON-like values."""
    struct = struct_pb2.Struct()
    _encode(_fill_struct, struct, obj, 1, path)
    return struct


def _encode(fill: Callable[[Any, Any, int], None], target: Any, obj: Any, depth: int, path: str) -> None:
    try:
        fill(target, obj, depth)
    except _Bad as bad:
        raise EncodeError(bad.message(path), bad.error_type) from None


def _fill_value(value: struct_pb2.Value, obj: Any, depth: int) -> None:
    if obj is None:
        value.null_value = struct_pb2.NULL_VALUE
    elif isinstance(obj, bool):
        value.bool_value = obj
    elif isinstance(obj, (int, float)):
        value.number_value = _double(obj)
    elif isinstance(obj, str):
        try:
            value.string_value = obj
        except UnicodeEncodeError as exc:
            raise _not_unicode(exc, "is a string") from None
    elif isinstance(obj, Mapping):
        value.struct_value.SetInParent()  # an empty dict is still a struct, not an unset Value
        _fill_struct(value.struct_value, obj, depth + 1)
    elif isinstance(obj, (list, tuple)):
        value.list_value.SetInParent()
        _fill_list(value.list_value, obj, depth + 1)
    else:
        raise _Bad(f"is a {type(obj).__name__}, which has no protobuf Value form", "TypeError")


def _fill_struct(struct: struct_pb2.Struct, obj: Mapping[Any, Any], depth: int) -> None:
    _check_depth(depth)
    for key, item in obj.items():
        if not isinstance(key, str):
            raise _Bad(f"has a {type(key).__name__} key; Struct keys must be strings", "TypeError")
        try:
            field = struct.fields[key]
        except UnicodeEncodeError as exc:
            raise _not_unicode(exc, "has a key") from None
        try:
            _fill_value(field, item, depth)
        except _Bad as bad:
            bad.segments.append(key)
            raise


def _fill_list(values: struct_pb2.ListValue, obj: list[Any] | tuple[Any, ...], depth: int) -> None:
    _check_depth(depth)
    for index, item in enumerate(obj):
        try:
            _fill_value(values.values.add(), item, depth)
        except _Bad as bad:
            bad.segments.append(index)
            raise


def _double(number: float) -> float:
    try:
        double = float(number)
    except OverflowError:
        raise _Bad("is an integer too large for a double") from None
    _check_finite(double)
    return double


def _not_unicode(error: UnicodeEncodeError, what: str) -> _Bad:
    char = error.object[error.start]
    return _Bad(f"{what} with {describe_char(char)} at index {error.start}, which UTF-8 cannot carry")


# -- Value -> Python ----------------------------------------------------------------


def from_value(value: struct_pb2.Value, path: str = "value") -> Any:
    """Decode a Value; whole-number doubles become ints.

    Raises INVALID_ARGUMENT (naming the path under `path`) for NaN, Infinity,
    or nesting deeper than MAX_DEPTH.
    """
    try:
        return _decode_value(value, 0)
    except _Bad as bad:
        raise InvalidArgumentError(bad.message(path)) from None


def from_struct(struct: struct_pb2.Struct, path: str = "value") -> dict[str, Any]:
    """Decode a Struct into a dict; the checks of `from_value` apply."""
    try:
        return _decode_struct(struct, 1)
    except _Bad as bad:
        raise InvalidArgumentError(bad.message(path)) from None


def _decode_value(value: struct_pb2.Value, depth: int) -> Any:  # noqa: PLR0911 - one return per kind
    kind = value.WhichOneof("kind")
    if kind == "number_value":
        number = value.number_value
        if number.is_integer() and abs(number) <= _MAX_EXACT_INT:
            return int(number)
        _check_finite(number)
        return number
    if kind == "string_value":
        return value.string_value
    if kind == "bool_value":
        return value.bool_value
    if kind == "struct_value":
        return _decode_struct(value.struct_value, depth + 1)
    if kind == "list_value":
        return _decode_list(value.list_value, depth + 1)
    return None


def _decode_struct(struct: struct_pb2.Struct, depth: int) -> dict[str, Any]:
    _check_depth(depth)
    decoded: dict[str, Any] = {}
    for key, item in struct.fields.items():
        try:
            decoded[key] = _decode_value(item, depth)
        except _Bad as bad:
            bad.segments.append(key)
            raise
    return decoded


def _decode_list(values: struct_pb2.ListValue, depth: int) -> list[Any]:
    _check_depth(depth)
    decoded: list[Any] = []
    for index, item in enumerate(values.values):
        try:
            decoded.append(_decode_value(item, depth))
        except _Bad as bad:
            bad.segments.append(index)
            raise
    return decoded


# -- Redis: values replicas read back ------------------------------------------------

#: First bytes of the JSON texts `dumps` writes (never with leading whitespace).
_JSON_STARTS = frozenset(b'{["-0123456789tfn')
#: First byte of a pickle of protocol 2 or later (every pickle motion-grpc ever wrote).
_PICKLE_START = 0x80
#: Exact types JSON gives back as they went in (subclasses such as IntEnum or OrderedDict would not).
_JSON_SCALARS = frozenset({str, int, float, bool, type(None)})
#: Nesting past which a value is pickled instead (pickle also handles cycles).
_JSON_DEPTH = 64
#: Built once: json.dumps with options builds an encoder per call.
_JSON_ENCODER = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))
_JSON_ASCII_ENCODER = json.JSONEncoder(allow_nan=False, separators=(",", ":"))
_JSON_DECODER = json.JSONDecoder()
#: What a pickle naming the running script's objects holds (a string that holds it costs a
#: cloudpickle, and loads the same).
_MAIN = b"__main__"


def dumps(obj: Any) -> bytes:
    """Serialize a value for Redis, in a form a replica can read back without running code.

    JSON when the value is exactly JSON-like (it comes back equal and of the
    same types, and other tools can read it); else a pickle, signed with the
    state secret when the process has one. Without a secret, a process that
    refuses unsigned pickles stores only pickles it would read back (naming no
    code: tuples, sets, bytes, ...) and raises UntrustedDataError for the rest.
    """
    encoded = _json_exact(obj)
    if encoded is not None:
        return encoded
    data = pickle_dumps(obj)
    policy = trust.current()
    if policy.secrets:
        return policy.sign(data)
    if not policy.load_unsigned:
        trust.check_unsigned(data)
    return data


def loads(data: bytes) -> Any:
    """A value `dumps` wrote (or an older release's pickle), loaded as this process's trust allows.

    Raises UntrustedDataError for a pickle that could run code without a valid
    signature (unless unsigned pickles are trusted) and for unknown formats.
    """
    first = data[0] if data else None
    if first in _JSON_STARTS:
        return _JSON_DECODER.decode(data.decode())
    try:
        if first == _PICKLE_START:
            return trust.current().load_unsigned_pickle(data)
        if data[:1] == trust.SIGNED_TAG:
            return trust.current().load_signed(data)
        raise UntrustedDataError(f"a stored value of unknown format (first byte {data[:1]!r}); refused")
    except UntrustedDataError as refused:
        _refusals.warning(type(refused).__name__, "refused a value read from Redis: %s", refused.message)
        raise


def sign_pickle(data: bytes) -> bytes:
    """A pickle that must load in full wherever it is read (a migration function): signed when
    this process has a state secret; else as it is, for processes that trust unsigned pickles."""
    return trust.current().sign(data)


def _json_exact(obj: Any) -> bytes | None:
    if not _is_json_exact(obj, 0):
        return None
    try:
        return _JSON_ENCODER.encode(obj).encode()
    except UnicodeEncodeError:  # a lone surrogate: JSON's escapes carry it
        return _JSON_ASCII_ENCODER.encode(obj).encode()
    except ValueError:  # NaN or Infinity
        return None


def _is_json_exact(obj: Any, depth: int) -> bool:
    kind = type(obj)
    if kind in _JSON_SCALARS:
        return True
    if depth >= _JSON_DEPTH:
        return False
    if kind is list:
        items = obj
    elif kind is dict:
        if not set(map(type, obj)) <= {str}:
            return False
        items = obj.values()
    else:
        return False
    if set(map(type, items)) <= _JSON_SCALARS:  # the common flat case, checked in C
        return True
    return all(_is_json_exact(item, depth + 1) for item in items)


# -- The opt-in pickle path over the wire ---------------------------------------------


def pickle_dumps(obj: Any) -> bytes:
    """Pickle a value (for a trusted caller, or to be signed for Redis).

    Plain pickle first (several times faster for the dicts, lists and strings
    most state is made of), cloudpickle for what it cannot handle (lambdas,
    classes defined in an app module loaded by path), and for what names the
    running script's own classes and functions (`__main__`): as Motion does,
    those are pickled by value, so another script can load them.
    """
    try:
        data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:
        whole: bytes = cloudpickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
        return whole
    if _MAIN not in data:
        return data
    try:
        whole = cloudpickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:  # by value it holds what cannot be pickled (a lock its methods use): by reference
        return data
    return whole


def unpickle_trusted(data: bytes) -> Any:
    """Unpickle bytes from a peer the caller chose to trust (a client's pickle=True opt-in)."""
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


#: Types fed as themselves; a subclass of another of them (an IntEnum, a str Enum, a namedtuple) is
#: fed with its name first. Mappings are fed by their items alone, whatever their class.
_PLAIN_TYPES = frozenset({bool, int, float, str, bytes, list, tuple})
_NAMED_TYPES = (int, float, str, bytes, list, tuple)


def _feed(hasher: Any, obj: Any, depth: int = 0) -> None:  # noqa: C901, PLR0912 - one branch per type
    """Feed `obj` so that values an op could tell apart never share a digest: 1 and 1.0, a list and
    a tuple, an IntEnum and its int all differ (as Motion's key, `str(props)`, tells them apart)."""
    if depth > MAX_DEPTH:
        raise _Unhashable  # (pickled) props nested this deep are served uncached
    kind = type(obj)
    if kind not in _PLAIN_TYPES and isinstance(obj, _NAMED_TYPES):
        hasher.update(b"c%s.%s;" % (kind.__module__.encode(), kind.__qualname__.encode()))
    if obj is None:
        hasher.update(b"N")
    elif isinstance(obj, bool):
        hasher.update(b"T" if obj else b"F")
    elif isinstance(obj, int):
        hasher.update(b"i%d;" % obj)
    elif isinstance(obj, float):
        hasher.update(b"f" + repr(obj).encode() + b";")
    elif isinstance(obj, str):
        data = obj.encode("utf-8", "surrogatepass")  # pickled props may hold lone surrogates
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
            _feed(hasher, key, depth + 1)
            _feed(hasher, item, depth + 1)
    elif isinstance(obj, (list, tuple)):
        hasher.update((b"l%d:" if isinstance(obj, list) else b"t%d:") % len(obj))
        for item in obj:
            _feed(hasher, item, depth + 1)
    elif hasattr(obj, "tobytes") and hasattr(obj, "dtype") and hasattr(obj, "shape"):
        # numpy-like arrays: hash dtype, shape and the full buffer, never a truncated repr
        hasher.update(f"a{obj.dtype}{obj.shape}:".encode())
        hasher.update(obj.tobytes())
    else:
        raise _Unhashable
