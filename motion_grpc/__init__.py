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
from motion_grpc.utils import clear_instance, get_instances, inspect_state

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
    "clear_instance",
    "get_instances",
    "inspect_state",
]

__version__ = "0.1.0"
