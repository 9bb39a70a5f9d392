"""Motion's update-op example (docs: Component.update): a serve op passes data to the update op in props.

python examples/multiply.py
"""

from motion_grpc import Component

MyComponent = Component("MyComponent")


@MyComponent.init_state
def setUp():
    return {"value": 0}


@MyComponent.serve("multiply")
def multiply(state, props):
    props["something"] = props["value"] + 1
    return state["value"] * props["value"]


@MyComponent.update("multiply")
def multiply(state, props):
    return {"value": props["something"]}


if __name__ == "__main__":
    c = MyComponent()
    print(
        c.run("multiply", props={"value": 2}, flush_update=True)
    )  # Returns 0 and state updates to {"value": 3}
    print(
        c.run("multiply", props={"value": 3}, flush_update=True)
    )  # Returns 9, update will execute
    # to get state["value"] = 4
    print(
        c.run("multiply", props={"value": 4}, flush_update=True)
    )  # Returns 4 * 4 = 16
