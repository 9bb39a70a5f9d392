"""Components the fault tests host: slow appends, and an update op that kills its worker.

An op writes "<pid> <i>" to the file named by MOTION_FAULT_MARKS (when set)
as it starts, so a test can tell which replica is in the middle of which op.
"""

import os
import time

from motion_grpc import Component


def _mark(i):
    path = os.environ.get("MOTION_FAULT_MARKS")
    if path:
        with open(path, "a") as marks:
            marks.write(f"{os.getpid()} {i}\n")


Journal = Component("Journal", cache_ttl=0)


@Journal.init_state
def journal_setup():
    return {"items": []}


@Journal.serve("append")
def journal_size(state, props):
    return len(state["items"])


@Journal.update("append")
def journal_append(state, props):
    _mark(props["i"])
    time.sleep(props.get("sleep", 0.005))
    if props.get("poison"):
        os.kill(os.getpid(), 9)  # the worker process dies on every attempt
    return {"items": [*state["items"], props["i"]]}
