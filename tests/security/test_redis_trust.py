"""Redis is a trust boundary: what a replica reads back from Redis never runs code it did not sign.

Each poisoned value is a pickle whose loading would create a marker
directory. It is written straight into Redis, where an attacker with access
to Redis would put it (a state field, a queue entry, a cache entry); the
server must refuse it, the marker must never appear, and the server must go
on serving other instances.
"""

from __future__ import annotations

import json
import os
import pathlib
import pickle
import secrets
import time
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
import redis

from motion_grpc import MotionClient
from motion_grpc._proto.motion.v1 import motion_pb2 as pb
from motion_grpc._proto.motion.v1 import motion_pb2_grpc
from motion_grpc.errors import FailedPreconditionError
from motion_grpc.store import RedisServer, protocol
from motion_grpc.store.keys import InstanceKeys, pending_key
from motion_grpc.store.records import cache_value, parse_cache_value, parse_event
from tests.helpers import TEST_APP, ServerProcess, assert_eventually, unique

TRUST_APP = str(pathlib.Path(__file__).with_name("trust_app.py"))


class _Mkdir:
    """Unpickling this calls os.mkdir(path): code chosen by whoever wrote the bytes."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, ...]:
        return os.mkdir, (self.path,)


@pytest.fixture
def marker(tmp_path: pathlib.Path) -> pathlib.Path:
    return tmp_path / "code-ran"


def poison(marker: pathlib.Path) -> bytes:
    return pickle.dumps(_Mkdir(str(marker)), protocol=pickle.HIGHEST_PROTOCOL)


@pytest.fixture(scope="module")
def store(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture(scope="module")
def plain_server(redis_url: str) -> Iterator[ServerProcess]:
    """A server without a state secret: unsigned pickles that name code are refused."""
    with ServerProcess(apps=[TEST_APP, TRUST_APP], redis_url=redis_url) as process:
        yield process


@pytest.fixture(scope="module")
def plain(plain_server: ServerProcess) -> Iterator[MotionClient]:
    with MotionClient(plain_server.target) as client:
        yield client


@pytest.fixture(scope="module")
def secret_file(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    path = tmp_path_factory.mktemp("secret") / "state-secret"
    path.write_text(secrets.token_urlsafe(48) + "\n")
    return path


@pytest.fixture(scope="module")
def signed(redis_url: str, secret_file: pathlib.Path) -> Iterator[MotionClient]:
    """A server with a state secret: Python objects in state are stored signed."""
    args = ["--state-secret-file", str(secret_file)]
    with (
        ServerProcess(apps=[TRUST_APP], redis_url=redis_url, args=args) as process,
        MotionClient(process.target) as client,
    ):
        yield client


def _bump_version(store: redis.Redis, keys: InstanceKeys) -> None:
    """Make replicas reload the state from Redis, as any committed write would."""
    store.hincrby(keys.meta, "version", 1)


def test_poisoned_state_field_is_refused_and_other_instances_are_served(
    plain: MotionClient, store: redis.Redis, marker: pathlib.Path
) -> None:
    ledger = plain.instance("Ledger", unique())
    ledger.run("append", {"i": 1}, flush_update=True)
    keys = InstanceKeys.of("Ledger", ledger.instance_id)
    store.hset(keys.state, "items", poison(marker))
    _bump_version(store, keys)
    with pytest.raises(FailedPreconditionError, match="unsigned pickle naming"):
        ledger.get_state()
    assert not marker.exists()
    other = plain.instance("Ledger", unique())
    assert other.run("append", {"i": 7}, flush_update=True) == 0
    assert other.get_state() == {"items": [7]}


def test_json_like_state_is_stored_as_json_other_tools_can_read(
    plain: MotionClient, store: redis.Redis
) -> None:
    ledger = plain.instance("Ledger", unique())
    ledger.run("append", {"i": "ünï"}, flush_update=True)
    stored = store.hget(InstanceKeys.of("Ledger", ledger.instance_id).state, "items")
    assert json.loads(stored) == ["ünï"]


def _inject_entry(store: redis.Redis, keys: InstanceKeys, payload: bytes) -> str:
    """Append an update entry to the instance's queue, as the enqueue script would, and mark it pending."""
    now = int(time.time() * 1000)
    seq = store.hincrby(keys.meta, "seq:append\0ledger_append", 1)
    fields = {
        protocol.ENTRY_FLOW: "append",
        protocol.ENTRY_OP: "ledger_append",
        protocol.ENTRY_PAYLOAD: payload,
        protocol.ENTRY_ENQUEUED_MS: now,
        protocol.ENTRY_SEQ: seq,
    }
    entry_id: bytes = store.xadd(keys.updates, fields)  # type: ignore[arg-type]
    store.zadd(pending_key(keys.component), {keys.instance_id: now})
    return entry_id.decode()


def _ended(store: redis.Redis, keys: InstanceKeys, entry_id: str) -> Any:
    events = [parse_event(raw_id, raw) for raw_id, raw in store.xrange(keys.events)]
    ended = [e for e in events if e.update_id == entry_id and e.status == protocol.FAILED]
    assert ended
    return ended[0]


def test_poisoned_queue_entry_fails_in_the_background_without_running_code(
    plain: MotionClient, store: redis.Redis, marker: pathlib.Path
) -> None:
    ledger = plain.instance("Ledger", unique())
    ledger.run("append", {"i": 1}, flush_update=True)
    keys = InstanceKeys.of("Ledger", ledger.instance_id)
    entry_id = _inject_entry(store, keys, poison(marker))
    failed = assert_eventually(lambda: _ended(store, keys, entry_id))  # the sweep found it: no RPC
    assert failed.error_type == "DecodeError"
    assert "unsigned pickle naming" in failed.error_message
    assert not marker.exists()
    assert ledger.run("append", {"i": 2}, flush_update=True) == 1  # the queue went on
    assert ledger.get_state() == {"items": [1, 2]}


def test_poisoned_cache_entry_is_computed_afresh(
    plain: MotionClient, store: redis.Redis, marker: pathlib.Path
) -> None:
    cached = plain.instance("Cached", unique())
    assert cached.run("read", {"q": "a"}) == {"count": 0, "echo": "a"}
    keys = InstanceKeys.of("Cached", cached.instance_id)
    entries = store.hgetall(keys.cache)
    assert entries
    for field, raw in entries.items():
        parsed = parse_cache_value(raw)
        assert parsed is not None
        version, expires, _ = parsed
        store.hset(keys.cache, field, cache_value(version, expires, poison(marker)))
    assert cached.run("read", {"q": "a"}) == {"count": 0, "echo": "a"}
    assert not marker.exists()


def _run_raw(target: str, component: str, instance_id: str, flow: str, props: dict[str, Any]) -> Any:
    with grpc.insecure_channel(target) as channel:
        stub = motion_pb2_grpc.MotionServiceStub(channel)
        ref = pb.InstanceRef(component=component, instance_id=instance_id)
        request = pb.RunRequest(instance=ref, flow=flow)
        request.props.update(props)
        request.flush_update = True
        return stub.Run(request, timeout=20)


def test_an_object_in_state_needs_a_secret(plain_server: ServerProcess) -> None:
    reply = _run_raw(plain_server.target, "Keeper", unique(), "keep", {"x": 3})
    (outcome,) = reply.update_outcomes
    assert outcome.status == pb.UPDATE_STATUS_FAILED
    assert "trust_app.Point" in outcome.error_message
    assert "--state-secret-file" in outcome.error_message


def test_with_a_secret_objects_are_signed_and_forgeries_refused(
    signed: MotionClient, store: redis.Redis, marker: pathlib.Path
) -> None:
    keeper = signed.instance("Keeper", unique())
    keeper.run("keep", {"x": 3}, flush_update=True)
    assert keeper.get_state(["x"]) == {"x": 3}
    keys = InstanceKeys.of("Keeper", keeper.instance_id)
    stored = store.hget(keys.state, "point")
    assert stored is not None and stored[:1] == b"\x01"  # signed, not a bare pickle
    store.hset(keys.state, "point", b"\x01" + bytes(32) + poison(marker))
    _bump_version(store, keys)
    with pytest.raises(FailedPreconditionError, match="signature does not match"):
        keeper.get_state()
    assert not marker.exists()
    assert signed.instance("Keeper", unique()).run("keep", {"x": 1}, flush_update=True) == 0


def test_redis_password_and_acl_user() -> None:
    """A Redis with requirepass and an ACL user: the server works with either credential in its URL."""
    password, user_password = secrets.token_hex(16), secrets.token_hex(16)
    acl = ("--requirepass", password, "--user", "motion", "on", f">{user_password}", "~*", "&*", "+@all")
    with RedisServer(appendonly=False, extra_args=acl) as server:
        base = f"127.0.0.1:{server.port}/0"
        with pytest.raises(redis.AuthenticationError):
            redis.Redis.from_url(f"redis://motion:wrong@{base}").ping()
        for url in (f"redis://:{password}@{base}", f"redis://motion:{user_password}@{base}"):
            with ServerProcess(redis_url=url) as process, MotionClient(process.target) as client:
                ledger = client.instance("Ledger", unique())
                assert ledger.run("append", {"i": 1}, flush_update=True) == 0
                assert ledger.get_state() == {"items": [1]}
