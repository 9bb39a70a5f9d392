"""examples/ecommerce: the seed's four steps against a server, with a fake OpenAI-compatible endpoint
(streaming) and offline, and the self-updated sub-parts showing up in the step-4 prompt."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Iterator

import pytest

from motion_grpc import MotionClient
from motion_grpc.errors import OpError
from tests.examples.fake_openai import Recorded, fake_openai
from tests.helpers import ROOT, ServerProcess, clean_env, unique

EXAMPLE = ROOT / "examples" / "ecommerce"
APP = str(EXAMPLE / "ecommerce_app.py")
PLAY = str(EXAMPLE / "play.py")


@pytest.fixture(scope="module")
def fake_llm() -> Iterator[tuple[str, Recorded]]:
    with fake_openai() as endpoint:
        yield endpoint


@pytest.fixture(scope="module")
def llm_server(redis_url: str, fake_llm: tuple[str, Recorded]) -> Iterator[ServerProcess]:
    endpoint = fake_llm[0]
    llm_env = clean_env(MOTION_LLM_BASE_URL=endpoint, MOTION_LLM_MODEL="fake-model", MOTION_LLM_API_KEY="k-1")
    with ServerProcess(apps=[APP], redis_url=redis_url, env=llm_env) as server:
        yield server


def prompts(output: str) -> dict[int, str]:
    """The prompt printed at each styling step, by step number."""
    steps = re.split(r"^=== Step (\d+):", output, flags=re.MULTILINE)[1:]
    found = {}
    for number, text in zip(steps[::2], steps[1::2]):
        prompt = re.search(r"^--- prompt \(model: .*?\):\n(.*?)\n--- answer:", text, re.MULTILINE | re.DOTALL)
        if prompt:
            found[int(number)] = prompt.group(1)
    return found


def line(prompt: str, label: str) -> str:
    return next(text for text in prompt.splitlines() if text.startswith(f"{label}: "))


def assert_step_four_learned_from_steps_one_to_three(output: str) -> None:
    shown = prompts(output)
    assert sorted(shown) == [1, 3, 4], output
    assert line(shown[1], "Lifestyle") == "Lifestyle: No queries yet."
    lifestyle, preferences = line(shown[4], "Lifestyle"), line(shown[4], "Preferences")
    assert "SIGMOD" in lifestyle and "Chile" in lifestyle, lifestyle  # step 1
    assert "Liked: wide-leg jeans" in preferences and "Disliked: purple blazer" in preferences  # step 2
    assert "Bay Area" in lifestyle and "hiking" in lifestyle, lifestyle  # step 3
    assert "coffee" in shown[4].split("using the catalog:")[1]  # step 4's own retrieval


def play(*args: str, **env: str) -> str:
    command = [sys.executable, PLAY, *args]
    done = subprocess.run(
        command, env=clean_env(**env), capture_output=True, text=True, timeout=180, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_step_four_prompt_holds_what_the_llm_summarized_from_steps_one_to_three(
    llm_server: ServerProcess, fake_llm: tuple[str, Recorded]
) -> None:
    endpoint, recorded = fake_llm
    before = len(recorded.requests)
    output = play("--target", llm_server.target, "--user", unique("shopper"))
    assert_step_four_learned_from_steps_one_to_three(output)
    assert f"(model: fake-model at {endpoint})" in output
    sent = recorded.requests[before:]
    # 3 recommendations, 3 lifestyle summaries, 1 preference summary: every one streamed, with the key.
    assert len(sent) == 7
    assert {(r["model"], r["stream"]) for r in sent} == {("fake-model", True)}
    assert set(recorded.authorizations[before:]) == {"Bearer k-1"}
    assert prompts(output)[4] in [r["messages"][-1]["content"] for r in sent]


def test_recommendations_stream_token_by_token(llm_server: ServerProcess) -> None:
    with MotionClient(llm_server.target) as client:
        items = list(client.instance("ECommerce", unique()).stream("styling_query", {"event": "hiking"}))
    assert "prompt" in items[0]
    tokens = [item["token"] for item in items[1:]]
    assert len(tokens) > 3
    assert "".join(tokens).startswith("For hiking, I suggest: ")


def test_bad_props_name_what_to_send(llm_server: ServerProcess) -> None:
    with MotionClient(llm_server.target) as client:
        shopper = client.instance("ECommerce", unique())
        with pytest.raises(OpError, match='"event": a non-empty string'):
            list(shopper.stream("styling_query", {"occasion": "hiking"}))
        with pytest.raises(OpError, match='"liked" must be a list of strings'):
            shopper.run("feedback", {"liked": "jeans"})


def test_make_ecommerce_plays_offline_on_its_own_server(tmp_path: pytest.TempPathFactory) -> None:
    make = shutil.which("make")
    if make is None:
        pytest.skip("make is not installed")
    done = subprocess.run(
        [make, "-s", "-o", ".venv/.installed", "ecommerce", f"ECOMMERCE_ARGS=--data-dir {tmp_path}"],
        cwd=ROOT, env=clean_env(), capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert_step_four_learned_from_steps_one_to_three(done.stdout)
    assert "(model: local text model (offline, deterministic; not an LLM" in done.stdout


def test_go_caller_streams_tokens(llm_server: ServerProcess, tmp_path: pytest.TempPathFactory) -> None:
    go = shutil.which("go")
    if go is None:
        pytest.skip("go is not installed (clients/install.sh installs it)")
    binary = str(tmp_path / "ecommerce-caller")
    built = subprocess.run(
        [go, "build", "-o", binary, "."],
        cwd=EXAMPLE / "go",
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if built.returncode != 0 and any(
        cause in built.stderr for cause in ("GOPROXY", "lookup disabled", "dial tcp")
    ):
        pytest.skip(f"Go modules are not downloaded: {built.stderr[-300:]}")
    assert built.returncode == 0, built.stderr
    command = [binary, "-target", llm_server.target, "-user", unique("go"), "hiking in the Bay Area"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert "--- answer:\nFor hiking in the Bay Area, I suggest: " in done.stdout
    assert "query_summary: Asked about: Bay Area; hiking." in done.stdout
