"""Components the integration tests host."""

import os
import pathlib
import time

from motion_grpc import Component

Ledger = Component("Ledger", cache_ttl=0)


@Ledger.init_state
def ledger_setup():
    return {"items": []}


@Ledger.serve("append")
def ledger_size(state, props):
    return len(state["items"])


@Ledger.update("append")
def ledger_append(state, props):
    return {"items": [*state["items"], props["i"]]}


Slow = Component("Slow", cache_ttl=0)


@Slow.init_state
def slow_setup():
    return {"value": 0}


@Slow.serve("bump")
def slow_read(state, props):
    return state["value"]


#: Longest a Slow update waits at its gate before failing (instead of holding its queue forever).
GATE_TIMEOUT = 60.0


@Slow.update("bump")
def slow_bump(state, props):
    # props["gate"]: a file the test creates when this update may go on, so a test knows the
    # update is still running for as long as it needs, however loaded the machine.
    gate = props.get("gate")
    deadline = time.monotonic() + GATE_TIMEOUT
    while gate is not None and not pathlib.Path(gate).exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"gate {gate} not opened within {GATE_TIMEOUT} s")
        time.sleep(0.01)
    time.sleep(props.get("sleep", 0))
    return {"value": state["value"] + 1}


Faulty = Component("Faulty", cache_ttl=0)


@Faulty.init_state
def faulty_setup():
    return {"n": 0}


@Faulty.serve("go")
def faulty_serve(state, props):
    if props.get("fail"):
        raise ValueError("serve refused: " + str(props["fail"]))
    if props.get("unencodable"):
        return {1, 2, 3}
    return state["n"]


@Faulty.update("go")
def faulty_update(state, props):
    time.sleep(props.get("sleep", 0))
    if props.get("fail_update"):
        raise KeyError("update refused")
    if props.get("bad_return"):
        return ["not", "a", "dict"]
    return {"n": state["n"] + 1}


InitOnce = Component("InitOnce", cache_ttl=0)


@InitOnce.init_state
def init_once_setup():
    # Each run leaves a line behind, so a test can count how often it ran.
    marker = os.environ.get("MOTION_TEST_INIT_LOG")
    if marker:
        with open(marker, "a") as log:
            log.write(f"{os.getpid()}\n")
    time.sleep(0.3)
    return {"created_by": os.getpid()}


@InitOnce.serve("who")
def init_once_who(state, props):
    return state["created_by"]


Pids = Component("Pids", cache_ttl=0)


@Pids.init_state
def pids_setup():
    return {"pid": 0}


@Pids.serve("where")
def pids_serve(state, props):
    return state["pid"]


@Pids.update("where")
def pids_record(state, props):
    # Which process applied the update (tests of --update-processes).
    return {"pid": os.getpid()}
