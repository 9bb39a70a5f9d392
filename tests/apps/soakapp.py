"""The component of the soak (tests/soak): update ops whose fate a hash of the props decides.

`fate(n)` is a pure function of the props' `n`, so the soak's checker can
predict how each update must end: an op that raises or exits is FAILED, one
that sleeps or does its work is APPLIED, and only the ops with a discard
policy may be DISCARDED.
"""

import hashlib
import sys
import time

from motion_grpc import Component, DiscardPolicy

Soak = Component("Soak", cache_ttl=0)

#: Per thousand updates of `tally`: how many raise, exit, sleep (the rest just count).
RAISE, EXIT, SLEEP = 20, 10, 30
#: The ops with a discard policy, and the ops that may fail by their fate.
DISCARDING_OPS = frozenset({"summarize", "refresh"})
FATED_OPS = frozenset({"tally"})


def fate(n):
    """'raise', 'exit', 'sleep' or 'count', from a hash of n (the same in every process)."""
    draw = int.from_bytes(hashlib.blake2b(str(n).encode(), digest_size=4).digest(), "big") % 1000
    if draw < RAISE:
        return "raise"
    if draw < RAISE + EXIT:
        return "exit"
    if draw < RAISE + EXIT + SLEEP:
        return "sleep"
    return "count"


@Soak.init_state
def soak_setup():
    return {"applied": 0, "summaries": 0, "refreshes": 0}


@Soak.serve("ask")
def ask(state, props):
    return state["applied"]


@Soak.serve("stream")
def stream(state, props):
    for index in range(3):
        yield {"index": index, "applied": state["applied"]}


@Soak.serve("digest")
def digest(state, props):
    return {"summaries": state["summaries"], "refreshes": state["refreshes"]}


@Soak.update(["ask", "stream"])
def tally(state, props):
    what = fate(props["n"])
    if what == "raise":
        raise ValueError(f"update {props['n']} refused by its fate")
    if what == "exit":
        sys.exit(7)
    if what == "sleep":
        time.sleep(0.05 + (props["n"] % 4) * 0.05)
    return {"applied": state["applied"] + 1}


@Soak.update("ask", discard_policy=DiscardPolicy.NUM_NEW_UPDATES, discard_after=1)
def summarize(state, props):
    time.sleep(0.002)  # long enough for newer updates to queue behind it on a busy instance
    return {"summaries": state["summaries"] + 1}


@Soak.update("digest", discard_policy=DiscardPolicy.SECONDS, discard_after=0.2)
def refresh(state, props):
    time.sleep(0.01)
    return {"refreshes": state["refreshes"] + 1}
