"""The instance runtime: serve path, update queue draining, leases, waiting."""

from motion_grpc.engine.engine import Engine, EngineSettings, RunResult, StateView

__all__ = ["Engine", "EngineSettings", "RunResult", "StateView"]
