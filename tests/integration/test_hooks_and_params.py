"""save_state / load_state hooks, read-only params and init_state params, as in Motion."""

from __future__ import annotations

from collections.abc import Callable

import grpc
import pytest

from motion_grpc import Component, MotionClient
from motion_grpc.engine import Engine
from motion_grpc.errors import FailedPreconditionError
from motion_grpc.instance import ComponentInstance
from tests.helpers import unique


def test_hooks_store_what_save_state_returns_and_rebuild_with_load_state(
    make_engine: Callable[..., Engine],
) -> None:
    writer, reader = make_engine(), make_engine()  # two engines: two processes as far as state goes
    instance_id = unique("hooked")
    local = ComponentInstance(writer.component("Hooked"), instance_id, engine=writer)
    assert local.run("get", flush_update=True) == {"count": 0, "greeting": "hello"}
    stored = writer.store.load(local._keys)[1]
    assert sorted(stored) == ["broken", "count"]  # the unpicklable connection never reached Redis
    view = reader.get_state("Hooked", instance_id)
    assert view.version == 2 and view.state["count"] == 1
    assert type(view.state["conn"]).__name__ == "Connection"  # rebuilt by load_state


def test_a_failing_load_state_fails_only_its_instance(
    make_engine: Callable[..., Engine], semantics_client: MotionClient
) -> None:
    creator = make_engine()
    broken_id, healthy_id = unique("broken"), unique("healthy")
    ComponentInstance(
        creator.component("Hooked"), broken_id, init_state_params={"broken": True, "start": 3}, engine=creator
    )
    ComponentInstance(creator.component("Hooked"), healthy_id, engine=creator)
    # The server never saw these instances: it loads their state from Redis through load_state.
    with pytest.raises(FailedPreconditionError) as info:
        semantics_client.instance("Hooked", broken_id).run("get")
    assert info.value.code == grpc.StatusCode.FAILED_PRECONDITION
    assert "load_state of Hooked raised ConnectionError: cannot reconnect (count 3)" in info.value.message
    with pytest.raises(FailedPreconditionError):
        semantics_client.instance("Hooked", broken_id).get_state()
    healthy = semantics_client.instance("Hooked", healthy_id)
    assert healthy.run("get", flush_update=True) == {"count": 0, "greeting": "hello"}
    assert healthy.get_state(["count"]) == {"count": 1}
    with pytest.raises(FailedPreconditionError):
        make_engine().get_state("Hooked", broken_id)


def test_params_are_read_only() -> None:
    source = {"model": "small"}
    c = Component("ReadOnly", params=source)
    source["model"] = "large"
    assert c.params["model"] == "small"
    with pytest.raises(TypeError):
        c.params["model"] = "large"  # type: ignore[index]
    with pytest.raises(AttributeError):
        c.params = {}  # type: ignore[misc]


def test_params_reach_ops_and_describe(semantics_client: MotionClient) -> None:
    info = next(c for c in semantics_client.describe() if c.name == "Hooked")
    assert dict(info.params) == {"greeting": "hello"}


def test_init_state_params_over_grpc_apply_at_creation_only(semantics_client: MotionClient) -> None:
    instance_id = unique("params")
    first = semantics_client.instance("Hooked", instance_id, init_state_params={"start": 5})
    assert first.run("get", flush_update=True) == {"count": 5, "greeting": "hello"}
    later = semantics_client.instance("Hooked", instance_id, init_state_params={"start": 9})
    assert later.run("get", flush_update=True)["count"] == 6
    assert later.get_state(["count"]) == {"count": 7}


def test_init_state_params_in_process(engine: Engine) -> None:
    instance = ComponentInstance(
        engine.component("Hooked"), unique("local"), init_state_params={"start": 2}, engine=engine
    )
    assert instance.run("get") == {"count": 2, "greeting": "hello"}
