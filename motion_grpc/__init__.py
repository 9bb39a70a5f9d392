"""motion-grpc: Motion's self-updating prompts, served over gRPC.

Define components with Motion's decorator API, then run them in-process
(`C("user42").run(...)`), host them with `motion-grpc serve app.py`, and call
them from any language through the generated stubs or from Python through
`MotionClient`.
"""

from motion_grpc.client import AsyncMotionClient, MotionClient
from motion_grpc.component import Component, DiscardPolicy
from motion_grpc.errors import MotionError
from motion_grpc.instance import ComponentInstance
from motion_grpc.migrate import StateMigrator
from motion_grpc.props import Props
from motion_grpc.state import State

__all__ = [
    "AsyncMotionClient",
    "Component",
    "ComponentInstance",
    "DiscardPolicy",
    "MotionClient",
    "MotionError",
    "Props",
    "State",
    "StateMigrator",
]

__version__ = "0.1.0"
