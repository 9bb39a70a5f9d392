"""The LLM-shaped components of bench/apps/llm.py and bench/apps/motion_llm.py, for either library.

Each user's instance keeps a running summary of its conversation. Flow `chat`:
the serve op answers from the summary after waiting like a model call
(SERVE_SECONDS), the update op folds the turn into the summary after waiting like
a summarising call (UPDATE_SECONDS). `LlmAsync` waits with `await asyncio.sleep`
(an async model client), `LlmSync` with `time.sleep` (a blocking one). Flow
`open` reads the turn count at once and enqueues nothing: it creates an
instance before the clock starts. Standard library only: Motion's venv imports
it too.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

SERVE_SECONDS = 0.2
UPDATE_SECONDS = 0.5
SUMMARY_CHARS = 2000  # the summary keeps its newest characters, as a prompt budget would
EXCERPT_CHARS = 160
FIRST_SUMMARY = (
    "New user. Preferences unknown; no purchases yet. Tone: friendly, concise. "
    "Answer in the user's language and ask one clarifying question when the request is vague."
)


def initial_state() -> dict[str, Any]:
    return {"summary": FIRST_SUMMARY, "turns": 0, "summarised_at": 0.0}


def answer(state: Any, props: Any) -> str:
    """What the model would say: the question and the end of the summary it was given."""
    return f"Re: {props['message'][:EXCERPT_CHARS]} (knowing: {state['summary'][-EXCERPT_CHARS:]})"


def summarised(state: Any, props: Any) -> dict[str, Any]:
    """The summary with this turn folded in, trimmed to its budget; and when (wall clock) the op ended.

    The bench reads `summarised_at` back to know when each update was applied
    without polling while the updates run (its commit follows within the op's worker).
    """
    turn = state["turns"] + 1
    told = str(props.serve_result)[:EXCERPT_CHARS]
    summary = f"{state['summary']}\nTurn {turn}: asked {props['message'][:EXCERPT_CHARS]}; told {told}"
    return {"summary": summary[-SUMMARY_CHARS:], "turns": turn, "summarised_at": time.time()}


async def answer_async(state: Any, props: Any) -> str:
    await asyncio.sleep(SERVE_SECONDS)
    return answer(state, props)


async def summarise_async(state: Any, props: Any) -> dict[str, Any]:
    await asyncio.sleep(UPDATE_SECONDS)
    return summarised(state, props)


def answer_sync(state: Any, props: Any) -> str:
    time.sleep(SERVE_SECONDS)
    return answer(state, props)


def summarise_sync(state: Any, props: Any) -> dict[str, Any]:
    time.sleep(UPDATE_SECONDS)
    return summarised(state, props)


def define(component_class: Any) -> tuple[Any, Any]:
    """`LlmAsync` and `LlmSync` with their init_state and serve ops, built with `component_class`.

    The caller registers the update ops (`summarise_async`, `summarise_sync`) itself:
    Motion accepts an update op only from a module's top level.
    """
    llm_async, llm_sync = component_class("LlmAsync"), component_class("LlmSync")
    for component, serve in ((llm_async, answer_async), (llm_sync, answer_sync)):
        component.init_state(initial_state)
        component.serve("open")(turns)
        component.serve("chat")(serve)
    return llm_async, llm_sync


def turns(state: Any, props: Any) -> int:
    return int(state["turns"])


def message(user: int) -> str:
    """A user's question: different for every user, so no serve is a cache hit."""
    return f"user {user}: I need a waterproof jacket for autumn hikes under 150 euros, what do you suggest?"
