"""A component whose update op records the process that applied it (update_task_type="process")."""

import os

from motion_grpc import Component

Pids = Component("UpdatePids", cache_ttl=0)
#: Every serve op call in this process, in order (serve ops run in the caller's process).
SERVED: list[int] = []


@Pids.init_state
def setup():
    return {"pids": []}


@Pids.serve("record")
def where(state, props):
    SERVED.append(props.get("i", -1))
    return os.getpid()


@Pids.update("record")
def record(state, props):
    return {"pids": [*state["pids"], os.getpid()]}
