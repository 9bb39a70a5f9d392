"""Telling other processes at once that an instance's updates are up for grabs.

A worker that hands a lease back with entries still queued (its process is
shutting down) publishes the instance id on its component's wake channel;
every engine hosting the component listens there and drains the instance at
once, instead of at its next sweep. Messages are hints: one that is lost
(Redis restarting, a listener reconnecting) only delays work to the sweep.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import redis

from motion_grpc.errors import MotionError
from motion_grpc.store.keys import WAKE_PREFIX, InstanceKeys, wake_channel
from motion_grpc.store.store import Store

log = logging.getLogger(__name__)

POLL_SECONDS = 0.5
RECONNECT_SECONDS = 0.5


class WakeListener:
    """A thread subscribed to the wake channels of the hosted components."""

    def __init__(
        self,
        store: Store,
        components: Callable[[], list[str]],
        notify: Callable[[InstanceKeys], None],
        stopping: threading.Event,
    ) -> None:
        self._store = store
        self._components = components
        self._notify = notify
        self._stopping = stopping
        self.thread = threading.Thread(target=self._run, name="motion-wakeups", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                self._listen()
            except (redis.exceptions.RedisError, MotionError, OSError) as exc:
                log.debug("wake channel: %s; reconnecting", exc)
                self._stopping.wait(RECONNECT_SECONDS)

    def _listen(self) -> None:
        pubsub = self._store.client.pubsub(ignore_subscribe_messages=True)
        subscribed: set[str] = set()
        try:
            while not self._stopping.is_set():
                wanted = {wake_channel(name) for name in self._components()}
                if wanted - subscribed:
                    pubsub.subscribe(*sorted(wanted - subscribed))
                    subscribed |= wanted
                message = pubsub.get_message(timeout=POLL_SECONDS)
                if message is not None and message.get("type") == "message":
                    self._wake(message)
        finally:
            pubsub.close()

    def _wake(self, message: dict[str, object]) -> None:
        channel, data = message.get("channel"), message.get("data")
        if not isinstance(channel, bytes) or not isinstance(data, bytes):
            return
        component = channel.decode().removeprefix(WAKE_PREFIX)
        self._notify(InstanceKeys.of(component, data.decode()))
