"""init_state runs exactly once when several processes create one instance at the same moment."""

from __future__ import annotations

import multiprocessing
import os
import pathlib
import time

from tests.helpers import unique

PROCESSES = 8


def _first_call(redis_url: str, instance_id: str, log_path: str, start_at: float, results: object) -> None:
    os.environ["MOTION_TEST_INIT_LOG"] = log_path
    from motion_grpc.engine import Engine
    from motion_grpc.instance import ComponentInstance
    from motion_grpc.server.loader import load_components
    from motion_grpc.store import RedisSettings
    from tests.helpers import TEST_APP

    (component,) = [c for c in load_components([TEST_APP]) if c.name == "InitOnce"]
    engine = Engine(RedisSettings(redis_url), [component]).start()
    try:
        time.sleep(max(0.0, start_at - time.time()))
        instance = ComponentInstance(component, instance_id, engine=engine)
        results.put(instance.run("who"))  # type: ignore[attr-defined]
    finally:
        engine.close()


def test_init_state_runs_once_across_processes(redis_url: str, tmp_path: pathlib.Path) -> None:
    log_path = tmp_path / "init.log"
    instance_id = unique("init")
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    start_at = time.time() + 3.0
    processes = [
        context.Process(target=_first_call, args=(redis_url, instance_id, str(log_path), start_at, results))
        for _ in range(PROCESSES)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(60)
        assert process.exitcode == 0
    creators = {results.get(timeout=5) for _ in range(PROCESSES)}
    runs = log_path.read_text().split()
    assert len(runs) == 1, runs
    assert creators == {int(runs[0])}
