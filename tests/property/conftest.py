"""The property suite's server, bystanders, hypothesis profiles and end-of-session counts.

Profiles: "bounded" (the default, inside `make test`: a few dozen examples
per property, well under a minute in all, always derandomized: the same
examples every run, so `make test` passes or fails the same way each time) and
"fuzz" (`make fuzz`: MOTION_FUZZ_EXAMPLES examples per property, random unless
CI=true, where it is derandomized so CI is reproducible). No example database
is kept either way.
"""

from __future__ import annotations

import json
import os
import pathlib
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

from motion_grpc import MotionClient
from tests.helpers import assert_eventually
from tests.property.bystanders import Bystanders
from tests.property.calls import SERVER_NOTES, TALLY
from tests.property.server import FuzzServer
from tests.property.strategies import COMPONENT, LIVE_IDS

_COMMON = {
    "deadline": None,
    "database": None,
    # Big and deep inputs are the point; the per-test fixture checks after all examples, on purpose.
    "suppress_health_check": [
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
        HealthCheck.function_scoped_fixture,
    ],
    "print_blob": True,
}
_EXAMPLES = os.environ.get("MOTION_FUZZ_EXAMPLES")
settings.register_profile("bounded", max_examples=int(_EXAMPLES or 25), derandomize=True, **_COMMON)
settings.register_profile(
    "fuzz",
    max_examples=int(_EXAMPLES or 2000),
    derandomize=os.environ.get("CI", "").lower() == "true",
    **_COMMON,
)
settings.load_profile(os.environ.get("MOTION_FUZZ_PROFILE", "bounded"))


@pytest.fixture(scope="session")
def fuzz_server(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[FuzzServer]:
    server = FuzzServer(redis_url, tmp_path_factory.mktemp("fuzz") / "server.log").start()
    try:
        yield server
    finally:
        server.close()
        SERVER_NOTES.append(server.notes())


@pytest.fixture(scope="session")
def bystanders(fuzz_server: FuzzServer, redis_url: str) -> Iterator[Bystanders]:
    with MotionClient(fuzz_server.target) as client:
        for instance_id in LIVE_IDS:
            client.instance(COMPONENT, instance_id).run("echo", {}, flush_update=True)
        group = Bystanders(client, redis_url).create()
        try:
            yield group
        finally:
            group.close()


@pytest.fixture(autouse=True)
def _untouched(fuzz_server: FuzzServer, bystanders: Bystanders) -> Iterator[None]:
    """After each property: the server lives and serves, logged no traceback, and no bystander changed."""
    tracebacks = fuzz_server.traceback_count()
    yield
    death = fuzz_server.death()
    assert death is None, f"the server died during this test ({death})"
    assert_eventually(fuzz_server.serving, timeout=15)
    assert fuzz_server.traceback_count() == tracebacks, (
        f"the server logged a traceback: see {fuzz_server.log}"
    )
    changes = bystanders.changes()
    assert not changes, "bystanders changed: " + "; ".join(changes)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Answers per RPC and status code: what the suite exercised (also written to MOTION_FUZZ_COUNTS)."""
    if not TALLY:
        return
    terminalreporter.section("property suite: answers per RPC")
    for rpc in sorted({rpc for rpc, _ in TALLY}):
        codes = {code: n for (name, code), n in TALLY.items() if name == rpc}
        detail = ", ".join(f"{code} {n}" for code, n in sorted(codes.items(), key=lambda item: -item[1]))
        terminalreporter.write_line(f"{rpc:26} {sum(codes.values()):6}  {detail}")
    terminalreporter.write_line(f"{'total':26} {sum(TALLY.values()):6}")
    for note in SERVER_NOTES:
        terminalreporter.write_line(note)
    target = os.environ.get("MOTION_FUZZ_COUNTS")
    if target:
        rows = [{"rpc": rpc, "code": code, "count": n} for (rpc, code), n in sorted(TALLY.items())]
        pathlib.Path(target).write_text(json.dumps(rows, indent=1))
