"""Motion's tutorial components (docs: Building a Motion Application), as written but for the import.

Motion serves them with FastAPI; here: motion-grpc serve examples/sample_components.py
"""

from motion_grpc import Component

Counter = Component("Counter")

@Counter.init_state
def setup():
    return {"count": 0}

@Counter.serve("increment")
def increment(state, props):
    return state["count"] + 1

@Counter.update("increment")
def update_count(state, props):
    return {"count": state["count"] + 1}

Calculator = Component("Calculator")

@Calculator.serve("add")
def add(state, props):
    return props["a"] + props["b"]

@Calculator.serve("subtract")
def subtract(state, props):
    return props["a"] - props["b"]
