"""`serve --processes N`: N serving processes share one port under a supervising parent.

Which process answered is told by the serve op itself (it returns its pid);
which processes listen on the port, and which processes exist at all, is read
from /proc.
"""

from __future__ import annotations

import os
import pathlib
import signal
import subprocess
from collections.abc import Iterator

import grpc
import pytest
from google.protobuf import struct_pb2

from motion_grpc import MotionClient
from motion_grpc._proto.motion.v1 import motion_pb2 as pb
from motion_grpc._proto.motion.v1 import motion_pb2_grpc as pb_grpc
from tests.helpers import TEST_APP, ServerProcess, assert_eventually, clean_env, unique

WHERE_APP = """
import os
from motion_grpc import Component

Where = Component("Where", cache_ttl=0)

@Where.init_state
def setup():
    return {"runs": 0}

@Where.serve("pid")
def serving_pid(state, props):
    return os.getpid()

@Where.update("pid")
def count(state, props):
    return {"runs": state["runs"] + 1}
"""
#: Connections opened at most until both processes have answered: the kernel spreads them at random
#: (a hash of each connection's addresses), so all 64 on one of two is about 1 in 10**19.
CHANNELS = 64
TCP_LISTEN, TCP_ESTABLISHED = "0A", "01"


def _parent_of(pid: str) -> int | None:
    try:
        stat = pathlib.Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[1])


def descendants(root: int) -> set[int]:
    """Every living process below `root` (children, grandchildren, ...)."""
    parents = {int(pid): _parent_of(pid) for pid in os.listdir("/proc") if pid.isdigit()}
    found, frontier = set(), {root}
    while frontier:
        frontier = {pid for pid, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return {pid for pid in found if _alive(pid)}


def _alive(pid: int) -> bool:
    try:
        state = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    except OSError:
        pass
    return inodes


def _tcp_inodes(port: int, state: str) -> set[str]:
    """Inodes of the TCP sockets whose local port is `port`, in `state` (hex, as /proc/net/tcp has it)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in pathlib.Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == state:
                inodes.add(fields[9])
    return inodes


def listeners(server: ServerProcess) -> set[int]:
    """The processes below the server that listen on its port: its serving processes."""
    assert server.process is not None
    listening = _tcp_inodes(server.port, TCP_LISTEN)
    return {pid for pid in descendants(server.process.pid) if _socket_inodes(pid) & listening}


@pytest.fixture
def where_app(tmp_path: pathlib.Path) -> str:
    path = tmp_path / "where.py"
    path.write_text(WHERE_APP)
    return str(path)


def _processes(redis_url: str, *apps: str, extra: tuple[str, ...] = ()) -> ServerProcess:
    return ServerProcess(apps, redis_url, ["--processes", "2", "--update-workers", "1", *extra])


def _two_serving(server: ServerProcess) -> set[int]:
    return assert_eventually(lambda: len(found := listeners(server)) == 2 and found, timeout=30)


def _serving_pid(target: str) -> int:
    """Run Where.pid over a connection of its own; the pid of the process that served it."""
    options = [("grpc.use_local_subchannel_pool", 1)]  # else channels to one target share a connection
    with grpc.insecure_channel(target, options=options) as channel:
        ref = pb.InstanceRef(component="Where", instance_id=unique("where"))
        reply = pb_grpc.MotionServiceStub(channel).Run(
            pb.RunRequest(instance=ref, flow="pid", props=struct_pb2.Struct()), timeout=30
        )
    return int(reply.result.number_value)


def test_two_processes_share_the_port_and_both_serve(redis_url: str, where_app: str) -> None:
    with _processes(redis_url, where_app) as server:
        serving = _two_serving(server)
        answered_by: set[int] = set()
        for _ in range(CHANNELS):
            answered_by.add(_serving_pid(server.target))
            if answered_by == serving:
                break
        assert answered_by == serving
        assert server.stop() == 0  # SIGTERM is forwarded; every child stops gracefully
        assert_eventually(lambda: not any(_alive(pid) for pid in serving))


def test_a_server_that_does_not_share_still_finds_the_port_busy(redis_url: str) -> None:
    with _processes(redis_url, TEST_APP) as server:
        _two_serving(server)
        stray = ServerProcess(redis_url=redis_url, args=["--update-workers", "1"])
        stray.command[stray.command.index("--port") + 1] = str(server.port)
        done = subprocess.run(
            stray.command, check=False, env=clean_env(), capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 1
        assert "address in use" in done.stderr


def test_killing_the_parent_leaves_no_process_behind(redis_url: str) -> None:
    server = _processes(redis_url, TEST_APP, extra=("--update-processes", "1")).start()
    try:
        _two_serving(server)
        with MotionClient(server.target) as client:
            handle = client.instance("Ledger", unique("orphan"))
            handle.run("append", {"i": 1}, flush_update=True)  # applied in an update process
            assert handle.get_state()["items"] == [1]
        assert server.process is not None
        below = assert_eventually(lambda: len(found := descendants(server.process.pid)) >= 4 and found)
    finally:
        server.kill()
    assert_eventually(lambda: not any(_alive(pid) for pid in below), timeout=30)


def test_a_child_that_dies_stops_the_replica_with_a_failure(redis_url: str, tmp_path: pathlib.Path) -> None:
    log = tmp_path / "server.log"
    server = ServerProcess(redis_url=redis_url, args=["--processes", "2", "--update-workers", "1"], log=log)
    server.start()
    try:
        crashed, survivor = sorted(_two_serving(server))
        os.kill(crashed, signal.SIGKILL)
        assert server.process is not None
        assert server.process.wait(30) == 1
        assert_eventually(lambda: not _alive(survivor))
        assert f"serving process {crashed} exited with -9 without being asked to" in log.read_text()
    finally:
        server.kill()


@pytest.fixture(autouse=True)
def _linux_only() -> Iterator[None]:
    if not pathlib.Path("/proc/net/tcp").exists():
        pytest.skip("reads /proc")
    yield
