import pytest

from motion_grpc.engine import admin
from motion_grpc.errors import InvalidArgumentError


@pytest.mark.parametrize(("cursor", "after"), [(0, None), (17, None), (3, "user:42\nodd"), (0, "")])
def test_page_tokens_round_trip(cursor: int, after: str | None) -> None:
    assert admin.decode_token(admin.encode_token(cursor, after)) == (cursor, after)


def test_first_page_has_no_token() -> None:
    assert admin.decode_token("") == (0, None)


@pytest.mark.parametrize("token", ["%%%", "bm90IGEgbnVtYmVy", admin.encode_token(-1, None)])
def test_garbage_tokens_are_invalid_arguments(token: str) -> None:
    with pytest.raises(InvalidArgumentError, match="page_token"):
        admin.decode_token(token)


def test_page_sizes() -> None:
    assert admin.page_size_of(0) == admin.DEFAULT_PAGE_SIZE
    assert admin.page_size_of(10**6) == admin.MAX_PAGE_SIZE
    with pytest.raises(InvalidArgumentError):
        admin.page_size_of(-1)


def test_migration_functions_are_pickled_by_value() -> None:
    import pickle

    data = admin.dumps_function(test_page_sizes)
    assert b"tests.unit.test_admin" not in data or pickle.loads(data) is not test_page_sizes
