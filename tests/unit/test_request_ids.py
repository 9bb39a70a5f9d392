"""A request id a client cannot have meant is refused, saying what is wrong with it."""

from __future__ import annotations

import pytest

from motion_grpc.errors import InvalidRequestIdError
from motion_grpc.server.servicer import check_request_id


@pytest.mark.parametrize(
    ("request_id", "why"),
    [("a/b", "it holds '/'"), ("order-ü", "it holds 'ü'"), ("x" * 129, "it is 129 characters long")],
)
def test_a_malformed_request_id_says_why(request_id: str, why: str) -> None:
    with pytest.raises(InvalidRequestIdError) as refused:
        check_request_id(request_id)
    assert refused.value.message.endswith(why)


@pytest.mark.parametrize("request_id", ["", "5f0c8e2a-9b1d-4c3e-8f7a-0123456789ab", "order-42:retry.1_a"])
def test_well_formed_request_ids_pass(request_id: str) -> None:
    check_request_id(request_id)
