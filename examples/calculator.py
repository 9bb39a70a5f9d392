"""Motion's Calculator with several flows (docs: Component, "Multiple Dataflows").

As written there but for the import.

python examples/calculator.py
"""

from motion_grpc import Component

Calculator = Component("MyCalculator")

@Calculator.init_state
def setUp():
    return {"value": 0}

@Calculator.serve("add")
def plus(state, props):
    return state["value"] + props["value"]

@Calculator.serve("subtract")
def minus(state, props):
    return state["value"] - props["value"]

@Calculator.update(["add", "subtract"])
def decrement(state, props):
    return {"value": props.serve_result}

if __name__ == "__main__":
    c = Calculator()
    c.run("add", props={"value": 1}, flush_update=True) # Will return 1,
    # blocking until update is done. Resulting state is {"value": 1}
    c.run("subtract", props={"value": 1}, flush_update=True)
    # Will return 0, blocking until update is done. Resulting state is #
    # {"value": 0}
