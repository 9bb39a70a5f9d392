"""Components for the Redis trust tests: a cached flow, and state holding a Python object."""

from motion_grpc import Component

Cached = Component("Cached", cache_ttl=3600)


@Cached.init_state
def cached_setup():
    return {"count": 0}


@Cached.serve("read")
def cached_read(state, props):
    return {"count": state["count"], "echo": props.get("q")}


@Cached.update("bump")
def cached_bump(state, props):
    return {"count": state["count"] + 1}


@Cached.serve("bump")
def cached_bump_serve(state, props):
    return state["count"]


class Point:
    """Not JSON-like: state holding one needs a pickle that names this class."""

    def __init__(self, x):
        self.x = x


Keeper = Component("Keeper", cache_ttl=0)


@Keeper.init_state
def keeper_setup():
    return {"x": 0}


@Keeper.serve("keep")
def keeper_serve(state, props):
    return state["x"]


@Keeper.update("keep")
def keeper_keep(state, props):
    return {"point": Point(props["x"]), "x": props["x"]}
