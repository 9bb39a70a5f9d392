"""Updates are applied in enqueue order, none lost, none applied twice."""

from __future__ import annotations

import threading

from motion_grpc import MotionClient
from tests.helpers import ServerProcess, unique

CLIENTS = 8
RUNS_PER_CLIENT = 250


def test_concurrent_clients_fifo_and_nothing_lost(server: ServerProcess) -> None:
    instance_id = unique("fifo")
    errors: list[BaseException] = []
    enqueue_order: dict[int, list[str]] = {}

    def client_loop(client_index: int) -> None:
        try:
            with MotionClient(server.target) as client:
                handle = client.instance("Ledger", instance_id)
                ids = []
                for n in range(RUNS_PER_CLIENT):
                    outcome = handle.run_outcome("append", {"i": client_index * 1000 + n})
                    ids.extend(outcome.update_ids)
                enqueue_order[client_index] = ids
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=client_loop, args=(index,)) for index in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors

    with MotionClient(server.target) as client:
        handle = client.instance("Ledger", instance_id)
        flushed = handle.flush(timeout=60)
        items = handle.get_state(["items"])["items"]

    assert flushed.failed == []
    assert len(items) == CLIENTS * RUNS_PER_CLIENT
    assert sorted(items) == sorted(c * 1000 + n for c in range(CLIENTS) for n in range(RUNS_PER_CLIENT))
    for client_index in range(CLIENTS):
        mine = [item for item in items if item // 1000 == client_index]
        assert mine == [client_index * 1000 + n for n in range(RUNS_PER_CLIENT)]
    assert flushed.version == 1 + CLIENTS * RUNS_PER_CLIENT
    # Entry ids are stream ids: the order updates were applied in is the order they were enqueued in.
    all_ids = [i for ids in enqueue_order.values() for i in ids]
    assert len(set(all_ids)) == len(all_ids)


def test_flush_update_waits_for_this_runs_update_in_order(client: MotionClient) -> None:
    handle = client.instance("Ledger", unique("flush"))
    for i in range(20):
        handle.run("append", {"i": i})
    outcome = handle.run_outcome("append", {"i": 20}, flush_update=True)
    # flush_update never jumps the queue: the 20 earlier updates were applied first.
    assert handle.get_state(["items"])["items"] == list(range(21))
    assert outcome.version == 22
    assert [o.status for o in outcome.update_outcomes] == [3]  # APPLIED
