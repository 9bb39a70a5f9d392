"""motion-grpc on a real 3-master Redis Cluster: FIFO, nothing lost, with instances on every master."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from redis.crc import key_slot

from motion_grpc import MotionClient
from motion_grpc.store.keys import InstanceKeys
from tests.cluster import RedisClusterServers
from tests.helpers import ServerProcess, servers_running, unique
from tests.integration import test_ordering

pytestmark = pytest.mark.fault

INSTANCES = 12
CLIENTS = 4
RUNS = 30  # per client and instance


@pytest.fixture(scope="module")
def cluster() -> Iterator[RedisClusterServers]:
    with RedisClusterServers() as servers:
        yield servers


@pytest.fixture(scope="module")
def replicas(cluster: RedisClusterServers) -> Iterator[list[ServerProcess]]:
    started = [ServerProcess(redis_url=cluster.url, args=["--lease-ttl", "2"]) for _ in range(2)]
    with servers_running(started) as running:
        yield running


def test_ordering_suite_passes_on_cluster(replicas: list[ServerProcess]) -> None:
    test_ordering.test_concurrent_clients_fifo_and_nothing_lost(replicas[0])
    with MotionClient(replicas[1].target) as client:
        test_ordering.test_flush_update_waits_for_this_runs_update_in_order(client)


def _spread_instances(cluster: RedisClusterServers) -> list[str]:
    """Instance ids of Ledger, an equal share on every master of the cluster."""
    share = INSTANCES // len(cluster.nodes)
    by_node: dict[int, list[str]] = {}
    while sum(len(found) for found in by_node.values()) < INSTANCES:
        instance_id = unique("spread")
        slot = key_slot(InstanceKeys.of("Ledger", instance_id).meta.encode())
        found = by_node.setdefault(cluster.node_of_slot(slot), [])
        if len(found) < share:
            found.append(instance_id)
    assert len(by_node) == len(cluster.nodes)
    return [instance_id for found in by_node.values() for instance_id in found]


def test_fifo_and_nothing_lost_across_masters(
    cluster: RedisClusterServers, replicas: list[ServerProcess]
) -> None:
    ids = _spread_instances(cluster)
    errors: list[BaseException] = []

    def client_loop(index: int) -> None:
        try:
            with MotionClient(replicas[index % len(replicas)].target) as client:
                handles = [client.instance("Ledger", i) for i in ids]
                for n in range(RUNS):
                    for handle in handles:
                        handle.run("append", {"i": index * 1000 + n})
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=client_loop, args=(index,)) for index in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors

    with MotionClient(replicas[1].target) as client:
        for instance_id in ids:
            handle = client.instance("Ledger", instance_id)
            flushed = handle.flush(timeout=60)
            items = handle.get_state(["items"])["items"]
            assert flushed.failed == []
            assert flushed.version == 1 + CLIENTS * RUNS
            assert sorted(items) == sorted(c * 1000 + n for c in range(CLIENTS) for n in range(RUNS))
            for index in range(CLIENTS):
                assert [item for item in items if item // 1000 == index] == [
                    index * 1000 + n for n in range(RUNS)
                ]
