"""The examples run as written (Motion's originals, only the import changed) and print what they should."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest

from motion_grpc import MotionClient
from tests.helpers import ROOT, ServerProcess, clean_env, unique

EXAMPLES = ROOT / "examples"

ZSCORE_OUTPUT = """\
None
None
None
None
None
None
None
None
None
0.6666666666666666
0.7878787878787878
0.9090909090909091
1.0303030303030303
1.1515151515151516
1.2727272727272727
1.393939393939394
1.5151515151515151
1.6363636363636365
0.6666666666666666
0.03327787021630613
"""


def run_example(name: str, redis_url: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(EXAMPLES / name), *args],
        cwd=ROOT,
        env=clean_env(MOTION_REDIS_URL=redis_url, **env),
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )


@pytest.fixture(scope="module")
def examples_client(redis_url: str) -> Iterator[MotionClient]:
    apps = [str(EXAMPLES / f"{name}.py") for name in ("counter", "calculator", "adder", "ecommerce")]
    with ServerProcess(apps=apps, redis_url=redis_url) as server, MotionClient(server.target) as client:
        yield client


@pytest.mark.parametrize("name", ["counter.py", "calculator.py", "adder.py", "sample_components.py"])
def test_examples_without_output_run_cleanly(name: str, redis_url: str) -> None:
    done = run_example(name, redis_url)
    assert (done.returncode, done.stdout) == (0, ""), done.stderr


def test_calculator_does_what_its_comments_say(examples_client: MotionClient) -> None:
    c = examples_client.instance("MyCalculator", unique())
    assert c.run("add", {"value": 1}, flush_update=True) == 1
    assert c.get_state() == {"value": 1}
    assert c.run("subtract", {"value": 1}, flush_update=True) == 0
    assert c.get_state() == {"value": 0}


def test_adder_does_what_its_comments_say(examples_client: MotionClient) -> None:
    c = examples_client.instance("MyAdder", unique())
    c.run("add", {"value": 1}, flush_update=True)
    assert c.get_state() == {"value": 1}
    assert c.run("add", {"value": 2}) == 3
    assert c.flush(timeout=10).version == 3
    assert c.get_state() == {"value": 3}


def test_counter_is_served(examples_client: MotionClient) -> None:
    counter = examples_client.instance("Counter", unique())
    assert counter.run("add", {"n": 2}, flush_update=True) == 2
    assert counter.run("add", {}, flush_update=True) == 3
    assert counter.get_state() == {"count": 3, "history": [2, 1]}


def test_ecommerce_prompt(redis_url: str, examples_client: MotionClient) -> None:
    user = unique("user")
    done = run_example("ecommerce.py", redis_url, user)
    assert done.returncode == 0, done.stderr
    assert done.stdout == (
        "Suggestions: ['linen shirt', 'wide-leg jeans', 'rain jacket']\n"
        "Asked for outfits for sightseeing in Santiago, Chile.\n"
    )
    # The server reads the state the script left: Motion's "any number of Python processes".
    handle = examples_client.instance("E-Commerce", user)
    assert handle.get_state(["query_summary"]) == {
        "query_summary": "Asked for outfits for sightseeing in Santiago, Chile."
    }
    assert handle.run("styling_query", {"event": "hiking in the Bay Area"}) == "Suggestions: ['trail shoes']"


def test_multiply_passes_props_from_serve_to_update(redis_url: str) -> None:
    done = run_example("multiply.py", redis_url)
    assert (done.returncode, done.stdout) == (0, "0\n9\n16\n"), done.stderr


def test_discard_policy_example_as_written(redis_url: str) -> None:
    # As written, the example passes str(i) as the value, so every update op raises
    # TypeError (int + str) and is recorded FAILED, in Motion as here: the state keeps its zeros.
    done = run_example("discard_policy.py", redis_url)
    assert (done.returncode, done.stdout) == (0, "0\n0\n0\n"), done.stderr


def test_tutorial_components_over_grpc(redis_url: str) -> None:
    app = str(EXAMPLES / "sample_components.py")
    with ServerProcess(apps=[app], redis_url=redis_url) as server, MotionClient(server.target) as client:
        instance_id = unique("ts_testid")
        assert client.instance("Counter", instance_id).run("increment", {}, flush_update=True) == 1
        assert client.instance("Counter", instance_id).run("increment", {}) == 2
        assert client.instance("Calculator", instance_id).run("add", {"a": 20, "b": 10}) == 30
        assert client.instance("Calculator", instance_id).run("subtract", {"a": 20, "b": 10}) == 10


def test_zscore_prints_motions_expected_output(redis_url: str) -> None:
    """Motion's documented output, line for line.

    That output assumes no update is applied during nine back-to-back runs (in Motion, its
    worker's polling delays every update by up to ~100 ms). motion-grpc starts updates within
    about a millisecond, so run as a plain script the second serve can see the state after one
    value (std 0) and divide by zero. Here the script only serves and enqueues
    (MOTION_PROCESS_UPDATES=0) and a server applies the updates, finding them by its periodic
    sweep: then the timing of Motion's documentation is reproduced. A sweep that lands inside
    one of the script's two ~10 ms bursts changes a line, so a mismatch is retried.
    """
    app = str(EXAMPLES / "zscore.py")
    args = ["--sweep-interval", "3"]
    with ServerProcess(apps=[app], redis_url=redis_url, args=args):
        outputs = []
        for _ in range(3):
            done = run_example("zscore.py", redis_url, MOTION_PROCESS_UPDATES="0")
            outputs.append(done.stdout)
            if done.returncode == 0 and done.stdout == ZSCORE_OUTPUT:
                return
        raise AssertionError(f"zscore.py printed {outputs!r}")
