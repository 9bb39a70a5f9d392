"""The component the property suite targets: what its ops do is decided by the props alone.

`echo` answers with its props, so a suite can check that what went in comes
back unchanged; `tokens` is a generator (RunStream). Special props keys make
an op raise or exit, to prove a user op cannot take the server down.
"""

import sys

from motion_grpc import Component

Echo = Component("Echo")


@Echo.init_state
def echo_setup(**params):
    return {"runs": 0, "init_params": len(params)}


def _misbehave(props, prefix):
    if f"{prefix}_raise" in props:
        raise ValueError(f"{prefix} op asked to raise")
    if f"{prefix}_exit" in props:
        sys.exit(3)


@Echo.serve("echo")
def echo(state, props):
    _misbehave(props, "serve")
    return dict(props)


@Echo.serve("tokens")
def tokens(state, props):
    yield from sorted(props)[:5]
    _misbehave(props, "serve")


@Echo.update(["echo", "tokens"])
def count_run(state, props):
    _misbehave(props, "update")
    runs = state.get("runs")
    return {"runs": runs + 1 if isinstance(runs, int) else 1}
