"""The server's event loop: uvloop where it is installed (a dependency off Windows), else asyncio's own.

A replica's loop carries every RPC, Redis round trip and update drain; on
uvloop a trivial Run costs about 12 to 15% less server CPU. uvloop's loop is
run through a subclass of its own: grpc_batches needs to shadow
`create_future` on the loop for a moment, which a bare uvloop.Loop (a Cython
class without instance attributes) does not allow. `--event-loop asyncio`
keeps asyncio's loop.
"""

from __future__ import annotations

import asyncio
import functools
import importlib.util
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

CHOICES = ("asyncio", "uvloop")
DEFAULT = "uvloop" if importlib.util.find_spec("uvloop") is not None else "asyncio"


def uses_uvloop(choice: str) -> bool:
    """Whether --event-loop `choice` means uvloop."""
    if choice not in CHOICES:
        raise ValueError(f"--event-loop must be one of {', '.join(CHOICES)}, not {choice!r}")
    return choice == "uvloop"


def run(main: Coroutine[Any, Any, T], choice: str) -> T:
    """Run `main` to its end on a new loop of the chosen kind."""
    if not uses_uvloop(choice):
        return asyncio.run(main)
    try:
        import uvloop
    except ImportError as exc:
        main.close()
        raise ValueError("--event-loop uvloop needs uvloop: pip install uvloop") from exc
    result: T = uvloop.run(main, loop_factory=uvloop_factory())
    return result


@functools.cache
def uvloop_factory() -> Callable[[], Any]:
    """A uvloop loop class whose instances take attributes of their own (uvloop must be installed)."""
    import uvloop

    class Loop(uvloop.Loop):
        """uvloop's loop, with an instance `__dict__`."""

    return Loop
