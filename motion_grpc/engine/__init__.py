"""The instance runtime: serve path, update draining, leases, waiting, on one event loop."""

from motion_grpc.engine.blocking import Engine
from motion_grpc.engine.engine import AsyncEngine
from motion_grpc.engine.options import EngineSettings, RunOptions
from motion_grpc.engine.results import RunResult, StateView

__all__ = ["AsyncEngine", "Engine", "EngineSettings", "RunOptions", "RunResult", "StateView"]
