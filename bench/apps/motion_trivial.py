"""The components of bench/apps/trivial.py that Motion runs too, written for Motion 0.1.132.

Runs in bench/.motion-venv.
"""

import time

from motion import Component

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
