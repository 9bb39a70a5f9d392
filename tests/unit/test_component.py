import pytest

from motion_grpc import Component, DiscardPolicy
from motion_grpc.errors import NotFoundError


def test_decorators_record_flows() -> None:
    c = Component("C", params={"model": "small"})

    @c.init_state
    def setup():
        return {}

    @c.serve(["a", "b"])
    def serve(state, props):
        return 1

    @c.update("a")
    def one(state, props):
        return {}

    @c.update("a", discard_policy=DiscardPolicy.NUM_NEW_UPDATES, discard_after=5)
    def two(state, props):
        return {}

    flow = c.flow("a")
    assert flow.serve is not None and flow.serve.name == "serve"
    assert [op.name for op in flow.updates] == ["one", "two"]
    assert flow.updates[1].discard_after == 5
    assert c.flow("b").updates == ()
    assert c.params["model"] == "small"
    with pytest.raises(TypeError):
        c.params["model"] = "big"  # type: ignore[index]


def test_unknown_flow_lists_flows() -> None:
    c = Component("C")

    @c.serve("x")
    def serve(state, props):
        return 1

    with pytest.raises(NotFoundError, match="flows: x"):
        c.flow("y")


def test_wrong_signatures_fail_at_decoration() -> None:
    c = Component("C")
    with pytest.raises(TypeError, match=r"\(state, props\)"):

        @c.serve("x")
        def serve(state):
            return 1

    with pytest.raises(TypeError, match="generator"):

        @c.update("x")
        def gen(state, props):
            yield {}


def test_duplicates_fail_at_decoration() -> None:
    c = Component("C")

    @c.serve("x")
    def serve(state, props):
        return 1

    with pytest.raises(ValueError, match="already has a serve op"):

        @c.serve("x")
        def other(state, props):
            return 2

    @c.update("x")
    def up(state, props):
        return {}

    with pytest.raises(ValueError, match="already has an update op named up"):
        c.update("x")(up)

    @c.init_state
    def setup():
        return {}

    with pytest.raises(ValueError, match="already has an init_state"):
        c.init_state(setup)


@pytest.mark.parametrize(
    ("policy", "after", "fragment"),
    [
        (DiscardPolicy.NONE, 3, "only allowed"),
        (DiscardPolicy.SECONDS, None, "required"),
        (DiscardPolicy.SECONDS, 0, "> 0"),
        (DiscardPolicy.NUM_NEW_UPDATES, -1, "> 0"),
        (DiscardPolicy.NUM_NEW_UPDATES, 1.5, "whole number"),
    ],
)
def test_discard_validation(policy: DiscardPolicy, after: float | None, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        Component("C").update("x", discard_policy=policy, discard_after=after)


@pytest.mark.parametrize("name", ["", "a" * 257, "a\tb"])
def test_bad_component_names(name: str) -> None:
    with pytest.raises(ValueError):
        Component(name)
