"""Components for the engine's hardening tests: fresh reads after a flush, hooks after commits,
ops that exit or interrupt, failures operators must see."""

import asyncio
import sys
import threading
import time

from motion_grpc import Component
from motion_grpc.errors import NotFoundError

Tally = Component("Tally", cache_ttl=0)


@Tally.init_state
def tally_setup():
    return {"n": 0}


@Tally.serve("get")
def tally_get(state, props):
    return state["n"]


@Tally.serve("bump")
def tally_serve_bump(state, props):
    return state["n"]


@Tally.update("bump")
def tally_bump(state, props):
    return {"n": state["n"] + 1}


class Connection:
    """Stands for an unpicklable client built from the state (say, a pool sized by it)."""

    def __init__(self, size: int) -> None:
        self.size = size


Pooled = Component("Pooled", cache_ttl=0)


@Pooled.init_state
def pooled_setup():
    return {"size": 1}


@Pooled.save_state
def pooled_save(state):
    return {"size": state["size"]}


@Pooled.load_state
def pooled_load(stored):
    return {"size": stored["size"], "pool": Connection(stored["size"])}


@Pooled.serve("grow")
def pooled_serve(state, props):
    return state["pool"].size


@Pooled.update("grow")
def pooled_grow(state, props):
    return {"size": state["size"] + 1}


Exits = Component("Exits", cache_ttl=0)


@Exits.init_state
def exits_setup():
    return {"applied": []}


@Exits.serve("serve_exit")
def exits_serve_exit(state, props):
    sys.exit(3)


@Exits.serve("serve_interrupt")
def exits_serve_interrupt(state, props):
    raise KeyboardInterrupt


@Exits.serve("serve_async_exit")
async def exits_serve_async_exit(state, props):
    await asyncio.sleep(0)
    raise SystemExit(4)


@Exits.serve("service_call")
async def exits_serve_service_call(state, props):
    raise NotFoundError("instance Other/x not found")  # the op's own call failed, not this run


@Exits.serve("linger")
def exits_linger(state, props):
    """Leaves a thread running that it made no daemon: it would hold the process at exit for 10 min."""
    threading.Thread(target=time.sleep, args=(600,), name="left-by-linger", daemon=False).start()
    return "left a thread"


@Exits.serve("linger_async")
async def exits_linger_async(state, props):
    """Leaves a call on the loop's default executor that returns in 10 min, never awaited."""
    asyncio.get_running_loop().run_in_executor(None, time.sleep, 600)
    return "left a call"


@Exits.serve("stream_exit")
def exits_stream_exit(state, props):
    yield "first"
    sys.exit(5)


@Exits.update("update")
def exits_update(state, props):
    kind = props.get("kind")
    if kind == "exit":
        sys.exit(6)
    if kind == "interrupt":
        raise KeyboardInterrupt
    if kind == "base":
        raise BaseException("not an Exception")
    if kind == "service_call":  # what a call to another service, made with MotionClient, raises
        raise NotFoundError("instance Other/x not found")
    return {"applied": [*state["applied"], props["i"]]}


@Exits.update("async_update")
async def exits_async_update(state, props):
    await asyncio.sleep(0)
    if props.get("kind") == "exit":
        raise SystemExit(7)
    return {"applied": [*state["applied"], props["i"]]}


@Exits.serve("fail")
def exits_fail(state, props):
    raise ValueError("the serve op is broken")


@Exits.update("fail")
def exits_update_fail(state, props):
    raise RuntimeError("the update op is broken")
