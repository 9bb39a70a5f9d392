"""A component whose update op records the process that applied it (update_task_type="process")."""

import os

from motion_grpc import Component

Pids = Component("UpdatePids", cache_ttl=0)


@Pids.init_state
def setup():
    return {"pids": []}


@Pids.serve("record")
def where(state, props):
    return os.getpid()


@Pids.update("record")
def record(state, props):
    return {"pids": [*state["pids"], os.getpid()]}
