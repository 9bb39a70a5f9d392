import motion_grpc
from motion_grpc import client, engine, errors, server, store, utils


def test_public_names_are_pinned() -> None:
    assert motion_grpc.__all__ == [
        "AsyncMotionClient",
        "Component",
        "ComponentInstance",
        "DiscardPolicy",
        "MotionClient",
        "MotionError",
        "Props",
        "State",
        "StateMigrator",
        "clear_instance",
        "get_instances",
        "inspect_state",
    ]
    for module in (motion_grpc, client, engine, server, store, utils):
        assert module.__all__ == sorted(module.__all__)
        for name in module.__all__:
            assert hasattr(module, name), name


def test_every_error_class_maps_to_one_status_and_back() -> None:
    seen = set()
    for cls in errors.ERROR_CLASSES:
        assert cls.code not in seen
        seen.add(cls.code)
        error = cls("boom")
        code, message = errors.status_for(error)
        assert (code, message) == (cls.code, "boom")
        back = errors.error_for(code, message, "ValueError", cls.reason)
        assert type(back) is cls
        assert back.message == "boom"
    assert errors.error_for(errors.OpError.code, "x", "KeyError").error_type == "KeyError"  # type: ignore[attr-defined]


def test_foreign_exceptions_become_internal_without_details() -> None:
    code, message = errors.status_for(RuntimeError("secret path /etc"))
    assert code == errors.InternalError.code
    assert "secret" not in message


def test_motion_compatible_errors_are_builtins_and_keep_their_parents_status() -> None:
    """In-process callers catch what Motion raises; over gRPC each travels as its table class."""
    cases = [
        (errors.ArgumentTypeError, errors.InvalidArgumentError, TypeError),
        (errors.UnknownFlowError, errors.NotFoundError, KeyError),
        (errors.UnknownInstanceError, errors.NotFoundError, ValueError),
        (errors.UpdatesDisabledError, errors.FailedPreconditionError, RuntimeError),
    ]
    for cls, parent, builtin in cases:
        error = cls("boom")
        assert isinstance(error, builtin) and isinstance(error, parent)
        assert str(error) == "boom"
        code, message = errors.status_for(error)
        assert (code, message) == (parent.code, "boom")
        assert type(errors.error_for(code, message)) is parent
    failed = errors.UpdateFailedError("boom", "ValueError")
    assert isinstance(failed, RuntimeError) and failed.error_type == "ValueError"
    assert type(errors.error_for(*errors.status_for(failed), "ValueError")) is errors.OpError
