import dataclasses

import pytest

from motion_grpc import Component, DiscardPolicy
from motion_grpc.definition import ComponentDefinition, definition_of
from motion_grpc.errors import ArgumentTypeError, NotFoundError


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


def test_init_state_and_an_update_op_decorated_again_replace_the_first_as_in_motion() -> None:
    """A notebook cell run twice decorates its functions again."""
    c = Component("C")

    @c.serve("x")
    def serve(state, props):
        return 1

    @c.init_state
    def setup():
        return {"v": 1}

    @c.update("x")
    def up(state, props):
        return {"v": 1}

    @c.update("x")
    def after(state, props):
        return {}

    first = up

    @c.init_state
    def setup_again():
        return {"v": 2}

    @c.update("x")
    def up(state, props):
        return {"v": 2}

    definition = c.definition
    assert definition.init_state_func is setup_again
    assert [(op.name, op.func) for op in definition.flow("x").updates] == [("up", up), ("after", after)]
    assert up is not first


def test_props_named_before_state_are_refused_rather_than_swapped() -> None:
    """Motion passes (state, props) by name; here they are passed in order."""
    c = Component("C")
    with pytest.raises(ArgumentTypeError, match=r"write it as \(state, props\)") as caught:

        @c.serve("x")
        def serve(props, state):
            return 1

    assert isinstance(caught.value, ValueError)  # what Motion raises
    assert isinstance(caught.value, TypeError)
    with pytest.raises(ValueError, match="must take"):

        @c.update("x")
        def update(state):
            return {}


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


def test_the_definition_is_frozen_and_built_once_per_change() -> None:
    c = Component("C", params={"model": "small"}, cache_ttl=5)

    @c.serve("x")
    def serve(state, props):
        return 1

    definition = c.definition
    assert isinstance(definition, ComponentDefinition)
    assert c.definition is definition  # built once: every lookup of the runtime reads it
    assert len({definition, c.definition}) == 1  # hashed by identity, as Components are
    assert (definition.name, definition.cache_ttl, dict(definition.params)) == ("C", 5.0, {"model": "small"})
    assert definition.flow_keys == {"x"} and definition.flow("x").serve is not None
    with pytest.raises(dataclasses.FrozenInstanceError):
        definition.name = "D"  # type: ignore[misc]
    with pytest.raises(TypeError):
        definition.flows_by_key["y"] = definition.flow("x")  # type: ignore[index]
    with pytest.raises(NotFoundError, match=r"no flow 'y' \(flows: x\)"):
        definition.flow("y")

    @c.update("x")
    def up(state, props):
        return {}

    assert c.definition is not definition  # a decoration drops the old one
    assert [op.name for op in c.definition.flow("x").updates] == ["up"]
    assert definition.flow("x").updates == ()  # what was built stays as it was


@pytest.mark.parametrize("decorate", ["init_state", "save_state", "load_state", "cache_ttl"])
def test_hooks_and_settings_reach_a_new_definition(decorate: str) -> None:
    c = Component("C")
    before = c.definition

    def hook(state):
        return {}

    if decorate == "cache_ttl":
        c.cache_ttl = 7
        assert c.definition.cache_ttl == 7.0
    else:
        getattr(c, decorate)(hook if decorate != "init_state" else lambda: {})
        assert getattr(c.definition, f"{decorate}_func") is not None
    assert c.definition is not before


def test_the_runtime_takes_a_component_or_its_definition() -> None:
    c = Component("C")
    assert definition_of(c) is c.definition
    assert definition_of(c.definition) is c.definition
    with pytest.raises(TypeError, match="Component or a ComponentDefinition"):
        definition_of("C")  # type: ignore[arg-type]
