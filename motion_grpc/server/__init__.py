"""The gRPC server: servicer, error mapping, health, app loading, shutdown."""

from motion_grpc.server.app import MotionServer, ServerOptions, create_server, serve_forever
from motion_grpc.server.loader import AppLoadError, load_components

__all__ = [
    "AppLoadError",
    "MotionServer",
    "ServerOptions",
    "create_server",
    "load_components",
    "serve_forever",
]
