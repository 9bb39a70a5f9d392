"""The Lua scripts of scripts.py as the store calls them: by SHA, loaded again when Redis lost them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import redis

from motion_grpc.store import scripts


class Script:
    """One Lua script, sent by SHA, loaded once more when Redis answers NOSCRIPT."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = scripts.sha1(source)

    async def __call__(self, client: Any, keys: Sequence[str], args: Sequence[Any]) -> Any:
        try:
            return await client.evalsha(self.sha, len(keys), *keys, *args)
        except redis.exceptions.NoScriptError:  # nothing ran: load it and send it again
            await client.script_load(self.source)
            return await client.evalsha(self.sha, len(keys), *keys, *args)

    def call_blocking(self, client: Any, keys: Sequence[str], args: Sequence[Any]) -> Any:
        """`__call__` on a blocking (redis.Redis) client."""
        try:
            return client.evalsha(self.sha, len(keys), *keys, *args)
        except redis.exceptions.NoScriptError:
            client.script_load(self.source)
            return client.evalsha(self.sha, len(keys), *keys, *args)

    def queue(self, pipe: Any, keys: Sequence[str], args: Sequence[Any]) -> None:
        """Queue the script by SHA on a pipeline; the caller handles a NoScriptError reply."""
        pipe.evalsha(self.sha, len(keys), *keys, *args)


INIT_BEGIN = Script(scripts.INIT_BEGIN)
INIT_COMMIT = Script(scripts.INIT_COMMIT)
DELETE = Script(scripts.DELETE)
ENQUEUE = Script(scripts.ENQUEUE)
TAKE = Script(scripts.TAKE)
COMMIT = Script(scripts.COMMIT)
RENEW = Script(scripts.RENEW)
RELEASE = Script(scripts.RELEASE)
UNCOUNT = Script(scripts.UNCOUNT)
#: Every script, for loading them all ahead of their first call.
ALL = (INIT_BEGIN, INIT_COMMIT, DELETE, ENQUEUE, TAKE, COMMIT, RENEW, RELEASE, UNCOUNT)
