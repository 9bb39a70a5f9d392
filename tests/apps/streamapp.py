"""Components the streaming, async-op and watch tests host."""

import asyncio
import time

from motion_grpc import Component

Tokens = Component("Tokens", cache_ttl=0)


@Tokens.init_state
def tokens_setup():
    return {"runs": [], "count": 0}


def _mark(props, text):
    # A marker file lets a test see, from outside the server, that a generator's finally ran.
    path = props.get("marker")
    if path:
        with open(path, "a") as marker:
            marker.write(text + "\n")


@Tokens.serve("tokens")
def tokens_gen(state, props):
    try:
        for i in range(int(props.get("n", 5))):
            if i == props.get("fail_at"):
                raise ValueError(f"no token {i}")
            if i and props.get("delay"):
                time.sleep(props["delay"])
            yield {"i": i, "count": state["count"]}
    finally:
        _mark(props, "closed")


@Tokens.serve("atokens")
async def tokens_agen(state, props):
    try:
        for i in range(int(props.get("n", 5))):
            if i == props.get("fail_at"):
                raise ValueError(f"no token {i}")
            if i and props.get("delay"):
                await asyncio.sleep(props["delay"])
            yield {"i": i, "count": state["count"]}
    finally:
        _mark(props, "closed")


@Tokens.serve("plain")
def tokens_plain(state, props):
    return state["count"]


@Tokens.update(["tokens", "atokens", "plain"])
def tokens_record(state, props):
    return {"runs": [*state["runs"], props.serve_result], "count": state["count"] + 1}


AsyncOps = Component("AsyncOps", cache_ttl=0)


@AsyncOps.init_state
async def async_setup(start=0):
    await asyncio.sleep(0.01)
    return {"value": start, "trail": []}


@AsyncOps.serve("add")
async def async_read(state, props):
    await asyncio.sleep(props.get("sleep", 0))
    return state["value"]


@AsyncOps.update("add")
async def async_add(state, props):
    await asyncio.sleep(0.001)
    return {"value": state["value"] + props["n"]}


@AsyncOps.update("add")
def sync_trail(state, props):
    return {"trail": [*state["trail"], props["n"]]}


@AsyncOps.serve("sync_read")
def sync_read(state, props):
    return {"value": state["value"], "trail": state["trail"]}


@AsyncOps.update("sync_read")
async def async_note(state, props):
    return {"trail": [*state["trail"], "read"]}


Sleepy = Component("Sleepy", cache_ttl=0)


@Sleepy.init_state
def sleepy_setup():
    return {"n": 0}


@Sleepy.serve("nap")
def sleepy_nap(state, props):
    time.sleep(props.get("sleep", 0))
    return state["n"]


@Sleepy.update("nap")
def sleepy_count(state, props):
    return {"n": state["n"] + 1}


Blob = Component("Blob", cache_ttl=0)


@Blob.init_state
def blob_setup():
    return {"blob": ""}


@Blob.serve("write")
def blob_size(state, props):
    return len(state["blob"])


@Blob.update("write")
def blob_write(state, props):
    return {"blob": "x" * props["size"]}
