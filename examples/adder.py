"""Motion's basic AdderComponent (docs: Component, "Basic"), as written but for the import.

python examples/adder.py
"""

from motion_grpc import Component

AdderComponent = Component("MyAdder")

@AdderComponent.init_state
def setUp():
    return {"value": 0}

@AdderComponent.serve("add")
def plus(state, props):
    return state["value"] + props["value"]

@AdderComponent.update("add")
def add(state, props):
    return {"value": props.serve_result}

if __name__ == "__main__":
    c = AdderComponent() # Create instance of AdderComponent
    c.run("add", props={"value": 1}, flush_update=True) # Blocks
    # until update is done. Resulting state is {"value": 1}
    c.run("add", props={"value": 2}) # Will return 3, not waiting
    # for update operation.
    # Resulting state will eventually be {"value": 3}
