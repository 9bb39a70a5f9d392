"""StateMigrator and `motion-grpc migrate`: every instance migrated, serialized with its updates."""

from __future__ import annotations

import os
import pathlib
import pickle
import subprocess
from collections.abc import Callable
from typing import Any

import pytest
import redis

from motion_grpc import MotionClient, StateMigrator
from motion_grpc.engine import Engine, EngineSettings
from motion_grpc.errors import NotFoundError, OpError
from motion_grpc.instance import ComponentInstance
from motion_grpc.server.loader import load_components
from motion_grpc.store import RedisServer, RedisSettings
from motion_grpc.store.keys import InstanceKeys
from tests.helpers import MOTION_GRPC, ROOT, clean_env, unique
from tests.integration.conftest import SEMANTICS_APP, events_of


def _instances(engine: Engine, values: list[int]) -> list[str]:
    ids = []
    for n in values:
        instance_id = unique("migr")
        ComponentInstance(engine.component("Migr"), instance_id, init_state_params={"n": n}, engine=engine)
        ids.append(instance_id)
    return ids


def _n(engine: Engine, instance_id: str) -> int:
    return int(engine.get_state("Migr", instance_id).state["n"])


def add_flag(state):  # type: ignore[no-untyped-def]
    # Motion's documented style: change the state in place and return all of it.
    state.update({"flag": True})
    return state


def test_migrates_every_instance_and_reports_each(engine: Engine) -> None:
    ids = _instances(engine, [1, 2, 3, 4])

    def migrate(state):  # type: ignore[no-untyped-def]
        if state["n"] == 3:
            raise ValueError("three is not allowed")
        return {"n": state["n"] * 10, "migrated": True}

    results = StateMigrator(engine.component("Migr"), migrate, engine=engine).migrate(ids, num_workers=2)
    assert [r.instance_id for r in results] == ids
    failed = {r.instance_id: r.exception for r in results if r.exception is not None}
    assert list(failed) == [ids[2]]
    error = failed[ids[2]]
    assert isinstance(error, OpError) and error.error_type == "ValueError"
    assert "three is not allowed" in str(error)
    assert [_n(engine, i) for i in ids] == [10, 20, 3, 40]
    assert "migrated" not in engine.get_state("Migr", ids[2]).state
    for instance_id, exception in results:  # Motion's (instance_id, exception) shape
        assert (exception is None) == (instance_id != ids[2])


def test_all_instances_by_default_and_motions_in_place_style(engine: Engine) -> None:
    ids = _instances(engine, [5, 6])
    results = StateMigrator(engine.component("Migr"), add_flag, engine=engine).migrate(num_workers=4)
    by_id = {r.instance_id: r.exception for r in results}
    assert set(ids) <= set(by_id) and all(by_id[i] is None for i in ids)
    assert engine.get_state("Migr", ids[0]).state == {"n": 5, "flag": True}


def test_a_migration_is_serialized_with_the_updates(engine: Engine, semantics_client: MotionClient) -> None:
    [instance_id] = _instances(engine, [0])
    handle = semantics_client.instance("Migr", instance_id)
    handle.run("bump", {"sleep": 0.5})
    handle.run("bump", {})
    [result] = StateMigrator(engine.component("Migr"), lambda s: {"n": s["n"] * 10}, engine=engine).migrate(
        [instance_id]
    )
    assert result.exception is None
    # Both updates queued before the migration were applied before it: (0 + 1 + 1) * 10.
    assert handle.get_state() == {"n": 20}
    assert handle.run("bump", {}, flush_update=True) == 20
    assert handle.get_state() == {"n": 21}


def test_unknown_instance_and_bad_functions(engine: Engine) -> None:
    [result] = StateMigrator(engine.component("Migr"), add_flag, engine=engine).migrate([unique("nope")])
    assert isinstance(result.exception, NotFoundError)
    ids = _instances(engine, [1, 2])

    def half_bad(state):  # type: ignore[no-untyped-def]
        return [1] if state["n"] == 1 else {"n": 20}

    with pytest.raises(AssertionError, match="must return a dict, not list") as asserted:  # as in Motion
        StateMigrator(engine.component("Migr"), half_bad, engine=engine).migrate(ids)
    bad, good = asserted.value.results  # type: ignore[attr-defined]
    assert isinstance(bad.exception, OpError) and bad.exception.error_type == "AssertionError"
    assert good.exception is None and _n(engine, ids[1]) == 20 and _n(engine, ids[0]) == 1
    with pytest.raises(ValueError, match="exactly one parameter"):
        StateMigrator(engine.component("Migr"), lambda a, b: {})  # type: ignore[arg-type,misc]
    with pytest.raises(TypeError):
        StateMigrator("Migr", add_flag)  # type: ignore[arg-type]


def test_cli_migrates_and_reports_failures(make_engine: Callable[..., Engine], redis_url: str) -> None:
    engine = make_engine()
    ids = _instances(engine, [1, 3])
    command = [MOTION_GRPC, "migrate", f"{SEMANTICS_APP}:Migr", "tests/apps/migrations.py:fail_on_three"]
    for instance_id in ids:
        command += ["--instance", instance_id]
    done = subprocess.run(
        [*command, "--redis", redis_url],
        check=False,
        cwd=ROOT,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1, done.stderr
    assert f"migrated {ids[0]}" in done.stdout
    assert f"FAILED {ids[1]}" in done.stdout and "three is not allowed" in done.stdout
    assert "1 of 2 instances of Migr migrated" in done.stdout
    assert [_n(engine, i) for i in ids] == [101, 3]
    command[3] = "tests/apps/migrations.py:times_ten"
    done = subprocess.run(
        [*command, "--redis", redis_url],
        check=False,
        cwd=ROOT,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert [_n(engine, i) for i in ids] == [1010, 30]


def test_cli_names_what_it_cannot_find(redis_url: str) -> None:
    done = subprocess.run(
        [
            MOTION_GRPC,
            "migrate",
            f"{SEMANTICS_APP}:Nope",
            "tests/apps/migrations.py:times_ten",
            "--redis",
            redis_url,
        ],
        check=False,
        cwd=ROOT,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "no Component named Nope" in done.stderr


@pytest.mark.parametrize("told_by", ["flag", "environment"])
def test_cli_trims_events_as_the_servers_do(
    make_engine: Callable[..., Engine], redis_url: str, told_by: str
) -> None:
    engine = make_engine()
    [instance_id] = _instances(engine, [1])
    handle = ComponentInstance(engine.component("Migr"), instance_id, engine=engine)
    for _ in range(100):  # 300 events, kept whole under the default retention
        handle.run("bump", {})
    handle.flush_update()
    assert len(events_of(redis_url, "Migr", instance_id)) >= 300
    command = [MOTION_GRPC, "migrate", f"{SEMANTICS_APP}:Migr", "tests/apps/migrations.py:times_ten"]
    command += ["--instance", instance_id, "--redis", redis_url]
    if told_by == "flag":
        command += ["--events-retention", "10"]
    env = clean_env(MOTION_EVENTS_RETENTION="10") if told_by == "environment" else clean_env()
    done = subprocess.run(command, check=False, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert _n(engine, instance_id) == 1010
    assert len(events_of(redis_url, "Migr", instance_id)) < 200  # XADD MAXLEN ~ 10: whole blocks of ~100 go


class _Mkdir:
    """Unpickling this calls os.mkdir(path): code chosen by whoever wrote the bytes to Redis."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, ...]:
        return os.mkdir, (self.path,)


def _migrate(redis_url: str, instance_id: str, *args: str) -> subprocess.CompletedProcess[str]:
    command = [MOTION_GRPC, "migrate", f"{SEMANTICS_APP}:Migr", "tests/apps/migrations.py:times_ten"]
    command += ["--instance", instance_id, "--redis", redis_url, *args]
    return subprocess.run(
        command, check=False, cwd=ROOT, env=clean_env(), capture_output=True, text=True, timeout=60
    )


def test_cli_refuses_a_poisoned_state_as_a_server_does(
    make_engine: Callable[..., Engine], redis_url: str, tmp_path: pathlib.Path
) -> None:
    engine = make_engine(settings=EngineSettings(process_updates=False))  # the migration applies it
    [instance_id] = _instances(engine, [1])
    marker = tmp_path / "code-ran"
    keys = InstanceKeys.of("Migr", instance_id)
    with redis.Redis.from_url(redis_url) as store:  # where an attacker with access to Redis writes
        store.hset(keys.state, "extra", pickle.dumps(_Mkdir(str(marker)), protocol=pickle.HIGHEST_PROTOCOL))
        store.hincrby(keys.meta, "version", 1)
    done = _migrate(redis_url, instance_id, "--timeout", "10")
    assert done.returncode == 1, done.stderr
    assert f"FAILED {instance_id}" in done.stdout and "--state-secret-file" in done.stdout
    assert not marker.exists()
    with redis.Redis.from_url(redis_url) as store:
        assert store.hget(keys.state, "n") == b"1"  # not migrated, nothing else written
    done = _migrate(redis_url, instance_id, "--state-secret-file", str(tmp_path / "missing"))
    assert done.returncode == 2 and "cannot read the state secret file" in done.stderr


def test_cli_applies_only_the_queues_of_the_instances_it_migrates() -> None:
    # A Redis of its own: no server of another test sweeps the other instance's queue meanwhile.
    with RedisServer(appendonly=False) as own:
        settings = EngineSettings(process_updates=False)  # nobody here applies updates
        enqueue_only = Engine(RedisSettings(own.url), load_components([SEMANTICS_APP]), settings).start()
        try:
            migrated, other = _instances(enqueue_only, [1, 5])
            for instance_id in (other, migrated):
                ComponentInstance(enqueue_only.component("Migr"), instance_id, engine=enqueue_only).run(
                    "bump", {}
                )
            done = _migrate(own.url, migrated)
            assert done.returncode == 0, done.stderr
            assert _n(enqueue_only, migrated) == 20  # its queued bump first, then the migration
            assert _n(enqueue_only, other) == 5  # the other instance's update is left for the servers
        finally:
            enqueue_only.close()
        with redis.Redis.from_url(own.url) as store:
            assert store.xlen(InstanceKeys.of("Migr", other).updates) == 1
