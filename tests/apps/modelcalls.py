"""Components whose ops wait like model calls, for the engine's concurrency tests."""

import asyncio
import time

from motion_grpc import Component

Chat = Component("Chat", cache_ttl=0)


@Chat.init_state
def chat_setup():
    return {"turns": []}


@Chat.serve("say")
async def chat_serve(state, props):
    await asyncio.sleep(props.get("serve", 0))
    return len(state["turns"])


@Chat.update("say")
async def chat_update(state, props):
    await asyncio.sleep(props.get("update", 0))
    return {"turns": [*state["turns"], props["i"]]}


Blocking = Component("Blocking", cache_ttl=0)


@Blocking.init_state
def blocking_setup():
    return {"n": 0}


@Blocking.serve("call")
def blocking_serve(state, props):
    time.sleep(props.get("sleep", 0))  # a sync client of a model API
    return state["n"]


@Blocking.update("call")
def blocking_update(state, props):
    time.sleep(props.get("update", 0))
    return {"n": state["n"] + 1}


#: The Limited ops' timeout: far below the 5 s a test makes them wait, far above what an op that
#: waits for nothing takes even on a loaded machine (its pool thread and the loop must get a turn).
OP_TIMEOUT = 1.5

Limited = Component("Limited", cache_ttl=0)


@Limited.init_state
def limited_setup():
    return {"done": []}


@Limited.serve("ask", timeout=OP_TIMEOUT)
async def limited_serve(state, props):
    await asyncio.sleep(props.get("sleep", 0))
    return "answer"


@Limited.update("ask", timeout=OP_TIMEOUT)
async def limited_update(state, props):
    await asyncio.sleep(props.get("update", 0))
    return {"done": [*state["done"], props["i"]]}


@Limited.serve("sync_ask", timeout=OP_TIMEOUT)
def limited_sync_serve(state, props):
    time.sleep(props.get("sleep", 0))
    return "answer"


@Limited.update("sync_ask", timeout=OP_TIMEOUT)
def limited_sync_update(state, props):
    time.sleep(props.get("update", 0))
    return {"done": [*state["done"], props["i"]]}


@Limited.serve("sync_tokens", timeout=OP_TIMEOUT)
def limited_sync_tokens(state, props):
    try:
        yield "first"
        time.sleep(props.get("stall", 0))  # a model that stops streaming after its first token
        yield "second"
    finally:  # where a model call's stream is closed: a test sees it ran by this file
        if props.get("marker"):
            with open(props["marker"], "a") as marker:
                marker.write("closed\n")


@Limited.update("sync_tokens")
def limited_tokens_update(state, props):
    return {"done": [*state["done"], props["i"]]}


@Limited.serve("tokens", timeout=OP_TIMEOUT)
async def limited_tokens(state, props):
    yield "first"
    await asyncio.sleep(props.get("stall", 0))
    yield "second"


@Limited.update("tokens")
async def limited_async_tokens_update(state, props):
    return {"done": [*state["done"], props["i"]]}


Crowd = Component("Crowd", cache_ttl=0)


@Crowd.init_state
def crowd_setup():
    return {}


@Crowd.serve("wait")
async def crowd_wait(state, props):
    await asyncio.sleep(props["seconds"])
    return props["n"]
