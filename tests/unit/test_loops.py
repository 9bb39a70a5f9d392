"""The server's event loop choice (--event-loop)."""

from __future__ import annotations

import asyncio

import pytest

from motion_grpc.server import loops


async def _loop_kind() -> str:
    loop = asyncio.get_running_loop()
    return "uvloop" if any(kind.__module__ == "uvloop" for kind in type(loop).__mro__) else "asyncio"


def test_uvloop_by_default_and_asyncio_when_asked() -> None:
    assert loops.DEFAULT == "uvloop"  # a dependency here (off Windows)
    assert loops.run(_loop_kind(), loops.DEFAULT) == "uvloop"
    assert loops.run(_loop_kind(), "asyncio") == "asyncio"


def test_an_unknown_choice_is_refused_naming_the_choices() -> None:
    with pytest.raises(ValueError, match="asyncio, uvloop"):
        loops.uses_uvloop("trio")
