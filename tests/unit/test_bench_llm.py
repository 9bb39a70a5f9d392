"""The LLM-shaped benchmark's bookkeeping: what came back within a round's cap counts, the rest is reported.

The users are plain callables, and what they block on is released by the test; the model-call
limit's own test runs it on the session's Redis.
"""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from collections.abc import Mapping

from bench.apps.llm_ops import SERVE_SECONDS, UPDATE_SECONDS
from bench.env import Env
from bench.llm_users import Outcome, User, threads_at, users_at
from bench.profiles import QUICK
from bench.scenarios import llm
from bench.scenarios._common import interleave

CAP = 0.3


def _nothing() -> None:
    return None


def test_a_user_blocked_past_the_cap_is_left_out_and_the_others_count() -> None:
    release = threading.Event()
    users = [User(_nothing, _nothing) for _ in range(3)] + [User(_nothing, release.wait)]
    outcome = threads_at(time.monotonic(), CAP, users)
    answered, waited = len(outcome.answered), len(outcome.waited)
    release.set()
    assert (answered, waited, outcome.errors) == (4, 3, 0)


def test_async_users_past_the_cap_are_cancelled_and_a_failing_user_is_counted() -> None:
    async def run() -> Outcome:
        never = asyncio.Event()

        async def fine() -> None:
            return None

        async def broken() -> None:
            raise ValueError("model unreachable")

        users = [User(fine, fine), User(fine, never.wait), User(broken, fine)]
        return await users_at(time.monotonic(), CAP, users)

    outcome = asyncio.run(run())
    assert (len(outcome.answered), len(outcome.waited)) == (2, 1)
    assert (outcome.errors, outcome.first_error) == (1, "ValueError: model unreachable")


def test_stamps_count_only_updates_applied_between_the_start_and_the_cap() -> None:
    start_wall, cap = 1000.0, 1.0
    outcome = Outcome(4, created=4).stamped([0.0, 1000.5, 1001.0, 1001.5], start_wall, cap)
    assert outcome.applied == [0.5, 1.0]  # 0.0: not applied yet (the initial state); 1001.5: after the cap


def _round(applied: int, users: int = 200) -> Mapping[str, float]:
    values = {"users": float(users), "created": float(users), "create_s": 0.1}
    values.update(answered=float(users), applied=float(applied), answers_s=2.8, threads=96.0, rss_mb=70.0)
    if applied == users:
        values["updates_s"] = 4.0
    return values


def test_a_side_that_did_not_finish_is_measured_no_more_and_its_row_says_why() -> None:
    load = llm.LOADS[0]
    finished = llm._capped_side("Motion", lambda: _round(200), 20.0)
    unfinished = llm._capped_side("ours", lambda: _round(152), 20.0)
    interleave(3, {"ours": unfinished, "motion": finished})
    assert (len(unfinished.rounds), len(finished.rounds)) == (1, 3)
    sides = {llm.GRPC: unfinished, llm.INPROCESS: unfinished, llm.MOTION: finished}
    rows = {row.name: row for row in llm._rows(Env(QUICK), load, sides)}
    updates = rows[f"{load.title}, over gRPC: all updates applied"]
    assert updates.status == "failed"
    assert updates.note == "did not finish within 20 s of the start: 152 of 200 updates applied"
    assert updates.baseline is not None and updates.baseline.values == [4.0, 4.0, 4.0]
    answers = rows[f"{load.title}, over gRPC: all answers back"]
    assert (answers.status, answers.ours.values, answers.ratios()) == ("measured", [2.8], [1.0])


def test_a_side_that_could_not_create_its_instances_reports_how_many_it_had() -> None:
    created = {**_round(0, users=1000), "created": 356.0}
    side = llm._capped_side("Motion", lambda: created, 20.0)
    interleave(2, {"motion": side})
    assert side.unavailable == "did not create its instances within 40 s: 356 of 1,000"


def test_rows_of_an_async_load_read_the_grpc_figures_against_the_model_call_limit() -> None:
    load = next(load for load in llm.LOADS if load.kind == "async")
    ours = llm._capped_side("ours", lambda: _round(200), 20.0)
    limit = llm._capped_side("limit", lambda: {**_round(200), "answers_s": 1.4, "updates_s": 2.0}, 20.0)
    interleave(2, {"ours": ours, "limit": limit})
    sides = {llm.GRPC: ours, llm.INPROCESS: ours, llm.LIMIT: limit}
    rows = {row.name: row for row in llm._rows(Env(QUICK), load, sides)}
    assert rows[f"{load.title}, over gRPC: all answers back, vs model-call limit"].ratios() == [2.0, 2.0]
    assert rows[f"{load.title}, over gRPC: all updates applied, vs model-call limit"].ratios() == [2.0, 2.0]
    assert llm._sides(Env(QUICK), load).keys() >= {llm.LIMIT}
    assert llm.LIMIT not in llm._sides(Env(QUICK), llm.LOADS[0])  # sync ops: no asyncio limit


def test_the_model_call_limit_serves_the_users_calls_as_motion_grpc_would(redis_url: str) -> None:
    from bench.rpc import wait_ready
    from bench.services import Service, free_port
    from motion_grpc import AsyncMotionClient

    port = free_port()
    address = f"127.0.0.1:{port}"
    command = [sys.executable, "-m", "bench.echo_server", "--port", str(port), "--redis", redis_url]
    service = Service("test-echo-model-calls", [*command, "--model-calls"])
    service.start(lambda: wait_ready(address, 1.0))

    async def user() -> tuple[float, float, float]:
        async with AsyncMotionClient(address) as client:
            handle = client.instance("LlmAsync", "limit-user")
            await handle.run("open")
            started = time.time()
            await handle.run("chat", {"message": "hello"})
            answered = time.time()
            await handle.flush("chat")
            applied = float((await handle.get_state(["summarised_at"]))["summarised_at"])
            return started, answered, applied

    try:
        started, answered, applied = asyncio.run(user())
    finally:
        service.stop()
    assert answered - started >= SERVE_SECONDS
    assert applied - started >= SERVE_SECONDS + UPDATE_SECONDS  # the update starts once the serve waited
