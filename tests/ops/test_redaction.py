"""Redis URLs are logged without their secrets: the password, and secret-looking query values."""

from __future__ import annotations

import pathlib

import pytest

from motion_grpc import MotionClient
from motion_grpc.observability.redaction import HIDDEN, redacted_url
from motion_grpc.store import RedisServer
from tests.helpers import ServerProcess, assert_eventually, unique

PASSWORD = "s3cret-redis-password"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (f"redis://app:{PASSWORD}@db.internal:6379/0", f"redis://app:{HIDDEN}@db.internal:6379/0"),
        (f"rediss://:{PASSWORD}@db:6380", f"rediss://:{HIDDEN}@db:6380"),
        (f"redis+cluster://app:{PASSWORD}@a:7000,b:7000", f"redis+cluster://app:{HIDDEN}@a:7000,b:7000"),
        (f"redis://{PASSWORD}@db/1", f"redis://{HIDDEN}@db/1"),
        (f"unix://:{PASSWORD}@/run/redis.sock?db=0", f"unix://:{HIDDEN}@/run/redis.sock?db=0"),
        (
            f"redis://db:6379/0?db=2&password={PASSWORD}&api_token={PASSWORD}",
            f"redis://db:6379/0?db=2&password={HIDDEN}&api_token={HIDDEN}",
        ),
        ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
        ("unix:///tmp/redis.sock?db=0", "unix:///tmp/redis.sock?db=0"),
    ],
)
def test_redacted_urls_keep_everything_but_the_secrets(url: str, shown: str) -> None:
    assert redacted_url(url) == shown


def test_the_start_log_line_names_redis_without_its_password(tmp_path: pathlib.Path) -> None:
    log = tmp_path / "server.log"
    with RedisServer(tmp_path / "redis", appendonly=False, extra_args=("--requirepass", PASSWORD)) as redis:
        url = f"redis://:{PASSWORD}@127.0.0.1:{redis.port}/0"
        with ServerProcess(redis_url=url, log=log) as server, MotionClient(server.target) as client:
            assert client.instance("Ledger", unique("redacted")).run("append", props={"i": 1}) is not None
            assert_eventually(lambda: "(Redis " in log.read_text())
    text = log.read_text()
    assert f"(Redis redis://:{HIDDEN}@127.0.0.1:{redis.port}/0)" in text
    assert PASSWORD not in text
