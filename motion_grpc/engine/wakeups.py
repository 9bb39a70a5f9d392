"""Telling other processes at once that an instance's updates are up for grabs.

A worker that hands a lease back with entries still queued (its process is
shutting down) publishes the instance id on its component's wake channel;
every engine hosting the component listens there and drains the instance at
once, instead of at its next sweep. Messages are hints: one that is lost
(Redis restarting, a listener reconnecting) only delays work to the sweep.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

import redis

from motion_grpc.engine.ops import stop_task
from motion_grpc.errors import MotionError
from motion_grpc.store.keys import WAKE_PREFIX, InstanceKeys, wake_channel

log = logging.getLogger(__name__)

POLL_SECONDS = 1.0
RECONNECT_SECONDS = 0.5


class WakeListener:
    """A task subscribed to the wake channels of the hosted components."""

    def __init__(
        self, client: Any, components: Callable[[], list[str]], notify: Callable[[InstanceKeys], None]
    ) -> None:
        self._client = client
        self._components = components
        self._notify = notify
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="motion-wakeups")

    async def close(self) -> None:
        self._stopping = True
        if self._task is not None:
            await stop_task(self._task)
        await self._client.aclose()

    async def _run(self) -> None:
        while not self._stopping:
            try:
                await self._listen()
            except (redis.exceptions.RedisError, MotionError, OSError) as exc:
                log.debug("wake channel: %s; reconnecting", exc)
                await asyncio.sleep(RECONNECT_SECONDS)

    async def _listen(self) -> None:
        pubsub = self._client.pubsub(ignore_subscribe_messages=True)
        subscribed: set[str] = set()
        try:
            while not self._stopping:
                wanted = {wake_channel(name) for name in self._components()}
                if wanted - subscribed:
                    await pubsub.subscribe(*sorted(wanted - subscribed))
                    subscribed |= wanted
                if not subscribed:
                    await asyncio.sleep(POLL_SECONDS)
                    continue
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=POLL_SECONDS)
                if message is not None and message.get("type") == "message":
                    self._wake(message)
        finally:
            with contextlib.suppress(Exception):
                await pubsub.aclose()

    def _wake(self, message: dict[str, object]) -> None:
        channel, data = message.get("channel"), message.get("data")
        if not isinstance(channel, bytes) or not isinstance(data, bytes):
            return
        component = channel.decode().removeprefix(WAKE_PREFIX)
        self._notify(InstanceKeys.of(component, data.decode()))
