"""The app every client's conformance runner talks to: `motion-grpc serve conformance/app.py`.

Small and deterministic, so that conformance/scenarios.json can state exact
results: a counter flow, a streaming flow, a flow whose serve op raises, one
whose update op raises, and a second component only the paging scenario fills.
"""

from motion_grpc import Component

Conformance = Component("Conformance", cache_ttl=0)


@Conformance.init_state
def setup(start=0):
    return {"count": start, "history": [], "streamed": []}


@Conformance.serve("add")
def current(state, props):
    # The count before this run's update, plus what it adds.
    return state["count"] + props.get("n", 1)


@Conformance.update("add")
def add(state, props):
    n = props.get("n", 1)
    return {"count": state["count"] + n, "history": [*state["history"], n]}


@Conformance.serve("tokens")
def tokens(state, props):
    # A generator serve op: RunStream sends one message per item, then a final done message.
    for i in range(int(props.get("n", 3))):
        yield {"i": i, "count": state["count"]}


@Conformance.update("tokens")
def record_tokens(state, props):
    return {"streamed": [*state["streamed"], len(props.serve_result)]}


@Conformance.serve("serve_fails")
def serve_fails(state, props):
    raise ValueError("the serve op refused these props")


@Conformance.serve("update_fails")
def update_fails_serve(state, props):
    return "accepted"


@Conformance.update("update_fails")
def update_fails(state, props):
    raise KeyError("missing")


Listed = Component("Listed", cache_ttl=0)


@Listed.init_state
def listed_setup():
    return {"touched": 0}


@Listed.serve("touch")
def touch(state, props):
    return state["touched"]


@Listed.update("touch")
def touched(state, props):
    return {"touched": state["touched"] + 1}
