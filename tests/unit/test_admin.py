import cloudpickle
import pytest

from motion_grpc import codec
from motion_grpc.engine import admin
from motion_grpc.errors import InvalidArgumentError


@pytest.mark.parametrize(("cursor", "after"), [(0, None), (17, None), (3, "user:42\nodd"), (0, "")])
def test_page_tokens_round_trip(cursor: int, after: str | None) -> None:
    assert admin.decode_token(admin.encode_token(cursor, after)) == (cursor, after)


def test_first_page_has_no_token() -> None:
    assert admin.decode_token("") == (0, None)


@pytest.mark.parametrize(
    "token", ["%%%", "bm90IGEgbnVtYmVy", admin.encode_token(-1, None), admin.encode_token(2**64, None)]
)
def test_garbage_tokens_are_invalid_arguments(token: str) -> None:
    with pytest.raises(InvalidArgumentError, match="page_token"):
        admin.decode_token(token)


def test_page_sizes() -> None:
    assert admin.page_size_of(0) == admin.DEFAULT_PAGE_SIZE
    assert admin.page_size_of(10**6) == admin.MAX_PAGE_SIZE
    with pytest.raises(InvalidArgumentError):
        admin.page_size_of(-1)


def test_migration_functions_are_pickled_by_value() -> None:
    data = admin.dumps_function(test_page_sizes)
    # Signed when the session configured a state secret: read it back as a replica would.
    assert b"tests.unit.test_admin" not in data or codec.loads(data) is not test_page_sizes


def test_dumps_function_is_thread_safe() -> None:
    """StateMigrator.migrate(num_workers=4) pickles from 4 threads at once: every payload must be
    the by-value one, and no call may fail (module registration is process-global in cloudpickle)."""
    import sys
    from concurrent.futures import ThreadPoolExecutor

    from tests.apps import migrations

    expected = admin.dumps_function(migrations.times_ten)
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible: the race shows at once
    try:
        with ThreadPoolExecutor(8) as pool:
            payloads = list(pool.map(lambda _: admin.dumps_function(migrations.times_ten), range(8000)))
    finally:
        sys.setswitchinterval(interval)
    assert all(payload == expected for payload in payloads)
    assert migrations.__name__ not in cloudpickle.list_registry_pickle_by_value()


def test_dumps_function_keeps_a_registration_made_by_the_caller() -> None:
    from tests.apps import migrations

    cloudpickle.register_pickle_by_value(migrations)
    try:
        admin.dumps_function(migrations.times_ten)
        assert migrations.__name__ in cloudpickle.list_registry_pickle_by_value()
    finally:
        cloudpickle.unregister_pickle_by_value(migrations)
