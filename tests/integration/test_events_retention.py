"""One events retention for every process: MOTION_EVENTS_RETENTION is read wherever a Store is built.

XADD MAXLEN ~ trims whole blocks of about 100 entries, so with a retention of
10 a stream that received 300 events holds well under 200 of them; untrimmed
(the default 10,000) it holds all 300.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from motion_grpc import MotionClient
from motion_grpc.inprocess import close_engines
from motion_grpc.instance import ComponentInstance
from motion_grpc.server.loader import load_components
from tests.helpers import TEST_APP, ServerProcess, clean_env, unique
from tests.integration.conftest import events_of

RUNS = 100  # 3 events each: QUEUED, RUNNING, APPLIED
TRIMMED = 200


@pytest.fixture
def retention_10(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    close_engines()  # the shared engines read the variable when they are made
    monkeypatch.setenv("MOTION_EVENTS_RETENTION", "10")
    yield
    close_engines()


def test_in_process_instances_trim_events_as_the_environment_says(redis_url: str, retention_10: None) -> None:
    [ledger] = [c for c in load_components([TEST_APP]) if c.name == "Ledger"]
    instance = ComponentInstance(ledger, unique("trim"), redis_url=redis_url)
    for i in range(RUNS):
        instance.run("append", {"i": i})
    instance.flush_update()
    assert len(events_of(redis_url, "Ledger", instance.instance_id)) < TRIMMED


def test_a_server_trims_events_as_the_environment_says(redis_url: str) -> None:
    env = clean_env(MOTION_EVENTS_RETENTION="10")
    with ServerProcess(redis_url=redis_url, env=env) as server, MotionClient(server.target) as client:
        handle = client.instance("Ledger", unique("trim"))
        for i in range(RUNS):
            handle.run("append", {"i": i})
        handle.flush(timeout=30)
    assert len(events_of(redis_url, "Ledger", handle.instance_id)) < TRIMMED


def test_a_bad_retention_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    from motion_grpc.store.records import events_retention_from_env

    for bad in ("ten", "0", "-5", "1.5"):
        monkeypatch.setenv("MOTION_EVENTS_RETENTION", bad)
        with pytest.raises(ValueError, match="MOTION_EVENTS_RETENTION must be a whole number"):
            events_retention_from_env()
    monkeypatch.setenv("MOTION_EVENTS_RETENTION", " 250 ")
    assert events_retention_from_env() == 250
