"""In-process runs enqueue over a blocking client that sends each command once, whatever its reply does."""

from __future__ import annotations

import pytest
import redis

from motion_grpc.store import RedisSettings
from tests.helpers import unique

#: Counts its runs, then answers only after `ARGV[1]` ms (of Redis time, spent in the script).
SLOW_COUNT = """
local count = redis.call('INCR', KEYS[1])
local start = redis.call('TIME')
local waited = 0
while waited < tonumber(ARGV[1]) do
  local now = redis.call('TIME')
  waited = (now[1] - start[1]) * 1000 + (now[2] - start[2]) / 1000
end
return count
"""


def test_a_command_whose_reply_comes_late_is_not_sent_again(redis_url: str) -> None:
    """An enqueue whose reply is lost may have run: sending it again could enqueue twice."""
    key = unique("sent-once")
    client = RedisSettings(redis_url, socket_timeout=0.2).caller_client()
    with redis.Redis.from_url(redis_url) as admin:
        sha = admin.script_load(SLOW_COUNT)
        with pytest.raises(redis.exceptions.TimeoutError):
            client.evalsha(sha, 1, key, 400)
        assert int(admin.get(key)) == 1
    client.close()
