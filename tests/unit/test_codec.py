import collections
import enum
import math
import pickle
import sys
import typing

import pytest
from google.protobuf import struct_pb2

from motion_grpc import codec
from motion_grpc.errors import InvalidArgumentError
from motion_grpc.props import Props


@pytest.mark.parametrize(
    "value",
    [None, True, False, 0, -3, 2**53, 1.5, "x", "", [], {}, [1, "a", None], {"a": {"b": [1, 2.5], "c": {}}}],
)
def test_value_round_trip(value: object) -> None:
    assert codec.from_value(codec.to_value(value)) == value


def test_whole_doubles_become_ints_within_exact_range() -> None:
    assert type(codec.from_value(codec.to_value(3.0))) is int
    big = float(2**60)
    assert type(codec.from_value(codec.to_value(big))) is float


def test_tuples_become_lists() -> None:
    assert codec.from_value(codec.to_value((1, 2))) == [1, 2]


@pytest.mark.parametrize(
    ("value", "fragment", "error_type"),
    [
        ({1, 2}, "value is a set", "TypeError"),
        ({1: "a"}, "value has a int key", "TypeError"),
        (math.nan, "value is nan", "ValueError"),
        ({"a": [object()]}, "value['a'][0] is a object", "TypeError"),
        ({"a": [1, -math.inf]}, "value['a'][1] is -inf; numbers must be finite", "ValueError"),
        ([10**400], "value[0] is an integer too large for a double", "ValueError"),
        ({"k": "a\ud800"}, "value['k'] is a string with U+D800 (category Cs) at index 1", "ValueError"),
        ({"\udfff": 1}, "value has a key with U+DFFF", "ValueError"),
    ],
)
def test_unencodable_values_name_the_path(value: object, fragment: str, error_type: str) -> None:
    with pytest.raises(codec.EncodeError) as info:
        codec.to_value(value)
    assert fragment in str(info.value)
    assert info.value.error_type == error_type


def _nested(depth: int) -> object:
    value: object = 1
    for _ in range(depth):
        value = [value]
    return value


def test_nesting_is_bounded_both_ways() -> None:
    deepest = _nested(codec.MAX_DEPTH)
    assert codec.from_value(codec.to_value(deepest)) == deepest
    with pytest.raises(codec.EncodeError, match=f"nests lists and dicts more than {codec.MAX_DEPTH} deep"):
        codec.to_value(_nested(codec.MAX_DEPTH + 1))
    too_deep = struct_pb2.Value()
    innermost = too_deep
    for _ in range(codec.MAX_DEPTH + 1):
        innermost = innermost.list_value.values.add()
    innermost.number_value = 1
    with pytest.raises(InvalidArgumentError, match=r"props\[0\]\[0\].* more than 32 deep"):
        codec.from_value(too_deep, "props")


def test_recursion_never_escapes_as_recursion_error() -> None:
    with pytest.raises(codec.EncodeError, match="deep"):
        codec.to_value(_nested(100_000))
    assert codec.props_digest("f", {"x": _nested(100_000)}) is None  # served uncached, no crash


@pytest.mark.parametrize("number", [math.nan, math.inf, -math.inf])
def test_decoding_refuses_non_finite_numbers_and_names_the_path(number: float) -> None:
    props = struct_pb2.Struct()
    props.fields["plan"].struct_value.fields["steps"].list_value.values.add().number_value = 1
    props.fields["plan"].struct_value.fields["steps"].list_value.values.add().number_value = number
    with pytest.raises(InvalidArgumentError) as info:
        codec.from_struct(props, "props")
    assert info.value.message.startswith(f"props['plan']['steps'][1] is {number}; numbers must be finite")


def test_error_paths_cut_long_keys() -> None:
    props = struct_pb2.Struct()
    props.fields["k" * 100_000].number_value = math.nan
    with pytest.raises(InvalidArgumentError) as info:
        codec.from_struct(props, "props")
    assert "more characters" in info.value.message
    assert len(info.value.message) < 300


def test_props_digest_is_canonical() -> None:
    a = codec.props_digest("f", {"x": 1, "y": [1, {"z": "q"}]})
    b = codec.props_digest("f", collections.OrderedDict([("y", [1, {"z": "q"}]), ("x", 1)]))
    assert a == b and a is not None
    assert codec.props_digest("g", {"x": 1}) != codec.props_digest("f", {"x": 1})
    assert codec.props_digest("f", {"x": "1"}) != codec.props_digest("f", {"x": 1})
    assert codec.props_digest("f", {"x": [1, 2]}) != codec.props_digest("f", {"x": [[1], 2]})


class _Size(enum.IntEnum):
    SMALL = 1


class _Pair(typing.NamedTuple):
    a: int
    b: int


@pytest.mark.parametrize(
    ("one", "other"),
    [
        (10, 10.0),
        (0, 0.0),
        (0.0, -0.0),
        ([1, 2], (1, 2)),
        (_Size.SMALL, 1),
        (_Pair(1, 2), (1, 2)),
        ("a", b"a"),
    ],
    ids=["int-float", "zero", "signed-zero", "list-tuple", "intenum-int", "namedtuple-tuple", "str-bytes"],
)
def test_props_an_op_could_tell_apart_never_share_a_digest(one: object, other: object) -> None:
    """Else a run is answered from the cache with another run's result (f"${amount}" gives $10 for
    10.0); Motion's own key, str(props), tells these apart too."""
    assert codec.props_digest("f", {"x": one}) != codec.props_digest("f", {"x": other})
    assert codec.props_digest("f", {"x": [one]}) != codec.props_digest("f", {"x": [other]})


def test_props_digest_refuses_what_it_cannot_canonicalize() -> None:
    assert codec.props_digest("f", {"x": object()}) is None


def test_props_pickle_keeps_serve_result() -> None:
    props = codec.loads(codec.dumps(Props({"a": 1}, serve_result=[1])))
    assert props == {"a": 1} and props.serve_result == [1]
    plain = codec.loads(codec.dumps(Props({"a": 1})))
    assert plain == {"a": 1} and plain.serve_result is None  # a serve op's props, as in Motion


def test_a_value_holding_itself_is_refused_with_a_message_that_says_so() -> None:
    loop: list[object] = []
    loop.append(loop)
    with pytest.raises(codec.EncodeError, match=r"deep \(or holds itself\)"):
        codec.to_value(loop, "result")


def test_is_large_counts_every_containers_items_and_stops_at_the_limit() -> None:
    assert not codec.is_large(12345) and not codec.is_large("x" * 10_000_000)
    assert not codec.is_large(list(range(100)), limit=100)
    assert codec.is_large(list(range(101)), limit=100)
    nested = {"a": [[0] * 30 for _ in range(3)], "b": ({1, 2}, frozenset({3}))}  # 2 + 3 + 90 + 2 + 2 + 1
    assert not codec.is_large(nested, limit=100) and codec.is_large(nested, limit=99)
    holds_itself: list[typing.Any] = [0]
    holds_itself.append(holds_itself)
    assert codec.is_large(holds_itself, limit=1000)  # (the walk ends)
    assert codec.is_large(collections.OrderedDict.fromkeys(range(200)), limit=100)


def test_a_scripts_object_is_pickled_by_value_unless_it_cannot_be(monkeypatch: pytest.MonkeyPatch) -> None:
    """cloudpickle stores `__main__` classes by value (another script can load them); a class whose
    methods use what cannot be pickled (a lock) is still stored, by reference."""
    main = sys.modules["__main__"]
    namespace: dict[str, typing.Any] = {"__name__": "__main__"}
    exec(
        "import threading\n"
        "LOCK = threading.Lock()\n"
        "class Plain:\n    pass\n"
        "class Locked:\n    def use(self):\n        with LOCK:\n            return 1\n",
        namespace,
    )
    for name in ("LOCK", "Plain", "Locked"):
        monkeypatch.setattr(main, name, namespace[name], raising=False)
    plain = codec.pickle_dumps(namespace["Plain"]())
    assert b"cloudpickle" in plain  # its class travels with it
    locked = codec.pickle_dumps(namespace["Locked"]())
    assert b"cloudpickle" not in locked and b"__main__" in locked and b"Locked" in locked
    assert type(pickle.loads(locked)) is namespace["Locked"]
