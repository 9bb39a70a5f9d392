"""Components for the tests of Motion's semantics: discard policies, batches, cache, hooks, admin."""

import pathlib
import time
import uuid

from motion_grpc import Component, DiscardPolicy

SUPERSEDE_AFTER = 5
EXPIRE_AFTER = 0.5
BATCH_SIZE = 4
#: Longest an update waits at its gate before failing (instead of holding its queue forever).
GATE_TIMEOUT = 60.0

Burst = Component("Burst", cache_ttl=0)


@Burst.init_state
def burst_setup():
    return {"none": [], "num": [], "secs": []}


def wait_at_gate(props):
    """Block an update until the test opens its gate (props["gate"], a file the test creates).

    A test holding the first update of a burst at its gate knows the whole burst is
    queued behind it, however slowly the machine enqueues it.
    """
    gate = props.get("gate")
    if gate is not None:
        deadline = time.monotonic() + GATE_TIMEOUT
        while not pathlib.Path(gate).exists():
            if time.monotonic() > deadline:
                raise TimeoutError(f"gate {gate} not opened within {GATE_TIMEOUT} s")
            time.sleep(0.01)


def _record(state, props, key):
    wait_at_gate(props)
    time.sleep(props.get("sleep", 0))
    return {key: [*state[key], props["i"]]}


@Burst.update("none")
def burst_none(state, props):
    return _record(state, props, "none")


@Burst.update("num", discard_policy=DiscardPolicy.NUM_NEW_UPDATES, discard_after=SUPERSEDE_AFTER)
def burst_num(state, props):
    return _record(state, props, "num")


@Burst.update("secs", discard_policy=DiscardPolicy.SECONDS, discard_after=EXPIRE_AFTER)
def burst_secs(state, props):
    return _record(state, props, "secs")


Batched = Component("Batched", cache_ttl=0)


@Batched.init_state
def batched_setup():
    return {"calls": [], "items": []}


@Batched.serve("add")
def batched_serve(state, props):
    return len(state["items"])


@Batched.update("add", batch_size=BATCH_SIZE)
def batched_update(state, props_list):
    for props in props_list:
        wait_at_gate(props)
    time.sleep(max(props.get("sleep", 0) for props in props_list))
    return {
        "calls": [*state["calls"], len(props_list)],
        "items": [*state["items"], *(props["i"] for props in props_list)],
    }


Cached = Component("Cached")


@Cached.init_state
def cached_setup():
    return {"n": 0}


@Cached.serve("read")
def cached_read(state, props):
    # A fresh token per computation: equal tokens mean the answer came from the cache.
    return {"n": state["n"], "token": uuid.uuid4().hex}


@Cached.serve("bump")
def cached_bump_serve(state, props):
    return state["n"]


@Cached.update("bump")
def cached_bump(state, props):
    wait_at_gate(props)
    time.sleep(props.get("sleep", 0))
    return {"n": state["n"] + 1}


#: What the "note" update op was given, in order (read by in-process tests).
NOTED: list[dict] = []


@Cached.serve("note")
def cached_note(state, props):
    props["computed"] = True
    return {"token": uuid.uuid4().hex}


@Cached.update("note")
def cached_noted(state, props):
    NOTED.append({"token": props.serve_result["token"], "computed": props.get("computed", False)})
    return {}


Hooked = Component("Hooked", params={"greeting": "hello"}, cache_ttl=0)


class Connection:
    """Stands in for something that cannot be pickled (a DB connection, a model handle)."""

    def __reduce__(self):
        raise TypeError("a Connection cannot be pickled")


@Hooked.init_state
def hooked_setup(broken=False, start=0):
    return {"count": start, "conn": Connection(), "broken": broken}


@Hooked.save_state
def hooked_save(state):
    return {"count": state["count"], "broken": state["broken"]}


@Hooked.load_state
def hooked_load(stored):
    if stored["broken"]:
        raise ConnectionError(f"cannot reconnect (count {stored['count']})")
    return {**stored, "conn": Connection()}


@Hooked.serve("get")
def hooked_get(state, props):
    assert isinstance(state["conn"], Connection)
    return {"count": state["count"], "greeting": Hooked.params["greeting"]}


@Hooked.update("get")
def hooked_count(state, props):
    return {"count": state["count"] + 1}


Listed = Component("Listed", cache_ttl=0)


@Listed.init_state
def listed_setup():
    return {"n": 0}


@Listed.serve("bump")
def listed_serve(state, props):
    return state["n"]


@Listed.update("bump")
def listed_bump(state, props):
    wait_at_gate(props)
    time.sleep(props.get("sleep", 0))
    return {"n": state["n"] + 1}


Migr = Component("Migr", cache_ttl=0)


@Migr.init_state
def migr_setup(n=0):
    return {"n": n}


@Migr.serve("bump")
def migr_serve(state, props):
    return state["n"]


@Migr.update("bump")
def migr_bump(state, props):
    time.sleep(props.get("sleep", 0))
    return {"n": state["n"] + 1}
