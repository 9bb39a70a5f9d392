"""Where Redis is, and how to connect to it."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import redis
from redis.backoff import ExponentialBackoff
from redis.cluster import RedisCluster
from redis.retry import Retry

CLUSTER_SCHEMES = ("redis+cluster://", "rediss+cluster://")


@dataclass(frozen=True)
class RedisSettings:
    """Connection settings; `url` is a redis:// (or redis+cluster://) URL.

    Timeouts are short so that a Redis outage surfaces as UNAVAILABLE within
    about a second instead of hanging a call.
    """

    url: str = "redis://127.0.0.1:6379/0"
    connect_timeout: float = 1.0
    socket_timeout: float = 5.0
    max_connections: int = 512

    @property
    def is_cluster(self) -> bool:
        return self.url.startswith(CLUSTER_SCHEMES)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> RedisSettings | None:
        """Settings from MOTION_REDIS_URL or Motion's MOTION_REDIS_HOST/PORT/DB/PASSWORD; None if unset."""
        env = os.environ if env is None else env
        url = env.get("MOTION_REDIS_URL")
        if url:
            return cls(url=url)
        host = env.get("MOTION_REDIS_HOST")
        if not host:
            return None
        port = env.get("MOTION_REDIS_PORT", "6379")
        db = env.get("MOTION_REDIS_DB", "0")
        password = env.get("MOTION_REDIS_PASSWORD")
        auth = f":{quote(password, safe='')}@" if password else ""
        return cls(url=f"redis://{auth}{host}:{port}/{db}")

    def client(self) -> Any:
        """A new thread-safe client (redis.Redis, or RedisCluster for cluster URLs)."""
        options: dict[str, Any] = {
            "socket_connect_timeout": self.connect_timeout,
            "socket_timeout": self.socket_timeout,
            "retry": Retry(ExponentialBackoff(cap=0.2, base=0.01), retries=1),
            "health_check_interval": 30,
        }
        if self.is_cluster:
            url = "redis://" + self.url.split("://", 1)[1]
            if self.url.startswith("rediss+"):
                url = "rediss://" + self.url.split("://", 1)[1]
            return RedisCluster.from_url(url, **options)
        return redis.Redis.from_url(self.url, max_connections=self.max_connections, **options)
