"""The components of bench/apps/llm.py, built with Motion 0.1.132 (runs in bench/.motion-venv)."""

from motion import Component

from bench.apps.llm_ops import define, summarise_async, summarise_sync

LlmAsync, LlmSync = define(Component)
LlmAsync.update("chat")(summarise_async)
LlmSync.update("chat")(summarise_sync)
