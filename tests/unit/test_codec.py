import math

import pytest

from motion_grpc import codec
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
    ("value", "fragment"),
    [({1, 2}, "set"), ({1: "a"}, "int key"), (math.nan, "nan"), ({"a": [object()]}, "value.a[0]")],
)
def test_unencodable_values_name_the_path(value: object, fragment: str) -> None:
    with pytest.raises(codec.EncodeError, match=r".*") as info:
        codec.to_value(value)
    assert fragment in str(info.value)


def test_props_digest_is_canonical() -> None:
    a = codec.props_digest("f", {"x": 1, "y": [1, {"z": "q"}]})
    b = codec.props_digest("f", {"y": [1, {"z": "q"}], "x": 1.0})
    assert a == b and a is not None
    assert codec.props_digest("g", {"x": 1}) != codec.props_digest("f", {"x": 1})
    assert codec.props_digest("f", {"x": "1"}) != codec.props_digest("f", {"x": 1})
    assert codec.props_digest("f", {"x": [1, 2]}) != codec.props_digest("f", {"x": [[1], 2]})


def test_props_digest_refuses_what_it_cannot_canonicalize() -> None:
    assert codec.props_digest("f", {"x": object()}) is None


def test_props_pickle_keeps_serve_result() -> None:
    props = codec.loads(codec.dumps(Props({"a": 1}, serve_result=[1])))
    assert props == {"a": 1} and props.serve_result == [1]
    plain = codec.loads(codec.dumps(Props({"a": 1})))
    with pytest.raises(AttributeError):
        _ = plain.serve_result
