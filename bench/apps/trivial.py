"""The trivial component every benchmark runs, here and (the same code) in Motion.

`Trivial` is the workload of the latency, throughput and drain rows;
`TrivialAsync` has the same ops written `async def`, which the server awaits
on its event loop instead of handing them to a thread (the latency scenario
shows what that hop costs); `ServeOnly` has the serve op alone. `Pickup`
measures idle pickup: its serve op returns the wall-clock time (taken just
before the update is enqueued) and its update op stores how long the update
waited before it started. `Burner`'s update op keeps a CPU busy in Python (it
holds the GIL), to see what that does to serves.
"""

import time

from motion_grpc import Component

Trivial = Component("Trivial")


@Trivial.init_state
def setup():
    return {"value": 0}


@Trivial.serve("add")
def serve(state, props):
    return state["value"] + props["value"]


@Trivial.update("add")
def update(state, props):
    return {"value": state["value"] + props["value"]}


TrivialAsync = Component("TrivialAsync")  # the same ops written `async def`: no thread hop


@TrivialAsync.init_state
def setup_async():
    return {"value": 0}


@TrivialAsync.serve("add")
async def serve_async(state, props):
    return state["value"] + props["value"]


@TrivialAsync.update("add")
async def update_async(state, props):
    return {"value": state["value"] + props["value"]}


ServeOnly = Component("ServeOnly")  # the serve path alone: no update op, nothing to drain


@ServeOnly.init_state
def serve_only_setup():
    return {"value": 0}


@ServeOnly.serve("add")
def serve_only(state, props):
    return state["value"] + props["value"]


Pickup = Component("Pickup", cache_ttl=0)


@Pickup.init_state
def pickup_setup():
    return {"waited": 0.0}


@Pickup.serve("stamp")
def pickup_stamp(state, props):
    return time.time()


@Pickup.update("stamp")
def pickup_record(state, props):
    return {"waited": time.time() - props.serve_result}


Burner = Component("Burner", cache_ttl=0)


@Burner.init_state
def burner_setup():
    return {"n": 0}


@Burner.serve("read")
def burner_read(state, props):
    return state["n"]


@Burner.serve("burn")
def burner_serve(state, props):
    return state["n"]


@Burner.update("burn")
def burner_burn(state, props):
    until = time.perf_counter() + props["ms"] / 1000
    while time.perf_counter() < until:
        pass
    return {"n": state["n"] + 1}
