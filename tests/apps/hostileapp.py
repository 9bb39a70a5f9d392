"""A component whose ops produce what a response cannot carry (tests of hostile input and output)."""

from motion_grpc import Component

Hostile = Component("Hostile", cache_ttl=0)


@Hostile.init_state
def hostile_setup():
    return {"runs": 0, "level": 0}


@Hostile.serve("number")
def hostile_number(state, props):
    # float("nan") / float("inf"): a serve result that no protobuf Value can carry
    return {"value": float(props.get("text", "1"))}


@Hostile.update("number")
def hostile_count(state, props):
    return {"runs": state["runs"] + 1}


@Hostile.serve("level")
def hostile_level(state, props):
    return state["runs"]


@Hostile.update("level")
def hostile_set_level(state, props):
    # writes a non-finite number into the state when asked to
    return {"level": float(props["text"])}


@Hostile.serve("shout")
def hostile_shout(state, props):
    # an exception that quotes its (large, or not UTF-8-encodable) input
    raise ValueError(_message(props))


@Hostile.serve("whisper")
def hostile_whisper(state, props):
    return None


@Hostile.update("whisper")
def hostile_whisper_update(state, props):
    raise ValueError(_message(props))


def _message(props):
    """The text repeated, with a lone surrogate (which UTF-8 cannot carry) when asked."""
    return props["text"] * props.get("times", 1) + ("\udcff" if props.get("surrogate") else "")


@Hostile.serve("big")
def hostile_big(state, props):
    return "x" * props["size"]


@Hostile.update("big")
def hostile_big_update(state, props):
    return {"runs": state["runs"] + 1}
