"""LLM-shaped components for motion-grpc (`motion-grpc serve bench.apps.llm`); see bench/apps/llm_ops.py."""

from bench.apps.llm_ops import define, summarise_async, summarise_sync
from motion_grpc import Component

LlmAsync, LlmSync = define(Component)
LlmAsync.update("chat")(summarise_async)
LlmSync.update("chat")(summarise_sync)
