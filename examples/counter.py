"""A counter: the smallest self-updating component.

motion-grpc serve examples/counter.py
"""

from motion_grpc import Component

Counter = Component("Counter")


@Counter.init_state
def setup():
    return {"count": 0, "history": []}


@Counter.serve("add")
def current(state, props):
    # Answers at once from the last committed state (it may not include
    # the updates of the previous few calls yet).
    return state["count"] + props.get("n", 1)


@Counter.update("add")
def add(state, props):
    n = props.get("n", 1)
    return {"count": state["count"] + n, "history": [*state["history"], n][-100:]}
