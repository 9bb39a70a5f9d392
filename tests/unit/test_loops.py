"""The server's event loop choice (--event-loop)."""

from __future__ import annotations

import asyncio

import pytest

from motion_grpc.server import loops


async def _loop_kind() -> str:
    return type(asyncio.get_running_loop()).__module__.split(".")[0]


def test_auto_and_uvloop_run_on_uvloop_and_asyncio_on_asyncios_own() -> None:
    assert loops.run(_loop_kind(), "auto") == "uvloop"  # installed with the package
    assert loops.run(_loop_kind(), "uvloop") == "uvloop"
    assert loops.run(_loop_kind(), "asyncio") == "asyncio"


def test_an_unknown_choice_is_refused_naming_the_choices() -> None:
    with pytest.raises(ValueError, match="auto, uvloop, asyncio"):
        loops.uses_uvloop("trio")
