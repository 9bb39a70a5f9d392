"""Redis: key layout, Lua scripts, connection settings, embedded server."""

from motion_grpc.store.connection import RedisSettings
from motion_grpc.store.embedded import RedisServer
from motion_grpc.store.store import Store

__all__ = ["RedisServer", "RedisSettings", "Store"]
