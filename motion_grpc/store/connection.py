"""Where Redis is, and how to connect to it."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import redis
import redis.asyncio
from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import ExponentialBackoff, NoBackoff
from redis.cluster import RedisCluster
from redis.retry import Retry

from motion_grpc.store.pipelined import PipelinedRedis

CLUSTER_SCHEMES = ("redis+cluster://", "rediss+cluster://")
#: Socket timeout of a cluster client for blocking reads: above any block time the engine asks for.
BLOCKING_SOCKET_TIMEOUT = 30.0


@dataclass(frozen=True)
class RedisSettings:
    """Connection settings; `url` is a redis:// (or redis+cluster://) URL.

    Timeouts are short so that a Redis outage surfaces as UNAVAILABLE within
    about a second instead of hanging a call.
    """

    url: str = field(default="redis://127.0.0.1:6379/0", repr=False)  # may hold a password
    connect_timeout: float = 1.0
    socket_timeout: float = 5.0
    max_connections: int = 128
    #: Seconds a call waits for a free connection of a full pool before UNAVAILABLE.
    pool_timeout: float = 10.0

    @property
    def is_cluster(self) -> bool:
        return self.url.startswith(CLUSTER_SCHEMES)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> RedisSettings | None:
        """Settings from MOTION_REDIS_URL or Motion's MOTION_REDIS_HOST/PORT/DB/PASSWORD/SSL (any of
        them set, the others default as in Motion: localhost, 6379, 0, no password, no TLS); None if
        none is set. As Motion reads them, a password of "None" is none (`motion init` writes it),
        and only an SSL of "True" asks for TLS."""
        env = os.environ if env is None else env
        url = env.get("MOTION_REDIS_URL")
        if url:
            return cls(url=url)
        named = ("HOST", "PORT", "DB", "PASSWORD", "SSL")
        unset = {"PASSWORD": "None", "SSL": "False"}  # what `motion init` writes when there is none
        if not any(env.get(f"MOTION_REDIS_{name}", "") not in ("", unset.get(name)) for name in named):
            return None
        host = env.get("MOTION_REDIS_HOST") or "localhost"
        port = env.get("MOTION_REDIS_PORT", "6379")
        db = env.get("MOTION_REDIS_DB", "0")
        password = env.get("MOTION_REDIS_PASSWORD")
        auth = f":{quote(password, safe='')}@" if password and password != "None" else ""
        scheme = "rediss" if env.get("MOTION_REDIS_SSL") == "True" else "redis"
        return cls(url=f"{scheme}://{auth}{host}:{port}/{db}")

    def _options(self, retry: Any) -> dict[str, Any]:
        return {
            "socket_connect_timeout": self.connect_timeout,
            "socket_timeout": self.socket_timeout,
            "retry": retry,
            "health_check_interval": 30,
        }

    def _cluster_url(self) -> str:
        scheme = "rediss://" if self.url.startswith("rediss+") else "redis://"
        return scheme + self.url.split("://", 1)[1]

    def client(self) -> Any:
        """A new thread-safe client (redis.Redis, or RedisCluster for cluster URLs)."""
        options = self._options(Retry(ExponentialBackoff(cap=0.2, base=0.01), retries=1))
        if self.is_cluster:
            return RedisCluster.from_url(self._cluster_url(), **options)
        return redis.Redis.from_url(self.url, max_connections=self.max_connections, **options)

    def caller_client(self) -> redis.Redis:
        """A thread-safe client for callers' own threads (not for clusters): past `max_connections`
        in use, a call waits for a free one (up to pool_timeout) rather than failing.

        It never sends a command again after a lost reply: an enqueue that may have run must not
        run twice (the caller sees UNAVAILABLE, as on the engine's own connection).
        """
        options = self._options(Retry(NoBackoff(), retries=0))
        pool = redis.BlockingConnectionPool.from_url(
            self.url, max_connections=self.max_connections, timeout=self.pool_timeout, **options
        )
        return redis.Redis(connection_pool=pool)

    def store_clients(self, max_blocking: int) -> tuple[Any, Any]:
        """The store's clients, for commands and for blocking reads (up to `max_blocking` at once).

        One auto-pipelined client does both (see store.pipelined); on a cluster,
        two redis.asyncio cluster clients, the blocking one with a long socket timeout.
        """
        if self.is_cluster:
            return self.async_client(), self.blocking_client(max_blocking)
        client = self.blocking_client(max_blocking)
        return client, client

    def blocking_client(self, max_blocking: int) -> Any:
        """An asyncio client for blocking reads (blocking up to BLOCKING_SOCKET_TIMEOUT), each on a
        connection of its own, up to `max_blocking` at once, and for the short commands around them.

        Auto-pipelined (store.pipelined); on a cluster, a redis.asyncio cluster client.
        """
        if self.is_cluster:
            return self.async_client(max_connections=max_blocking, socket_timeout=BLOCKING_SOCKET_TIMEOUT)
        return PipelinedRedis(self.url, self.connect_timeout, self.socket_timeout, max_blocking)

    def async_client(self, max_connections: int | None = None, socket_timeout: float | None = None) -> Any:
        """A new redis.asyncio client (or redis.asyncio.cluster.RedisCluster) with the same settings.

        Use it only on the event loop that first uses it. `max_connections`
        overrides the pool bound (per node on a cluster): a blocking read holds
        a connection for its whole block time, which must stay below
        `socket_timeout` (overriding the settings' one).
        """
        options = self._options(AsyncRetry(ExponentialBackoff(cap=0.2, base=0.01), retries=1))
        if socket_timeout is not None:
            options["socket_timeout"] = socket_timeout
        limit = max_connections or self.max_connections
        if self.is_cluster:
            return AsyncRedisCluster.from_url(self._cluster_url(), max_connections=limit, **options)
        # Past the bound, a call waits for a connection (up to pool_timeout) rather than failing:
        # thousands of ops in flight share the pool.
        pool = redis.asyncio.BlockingConnectionPool.from_url(
            self.url, max_connections=limit, timeout=self.pool_timeout, **options
        )
        return redis.asyncio.Redis.from_pool(pool)  # owns the pool: closing the client closes it
