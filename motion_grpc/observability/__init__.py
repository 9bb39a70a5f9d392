"""What operators see of a server: Prometheus metrics, OpenTelemetry spans, reflection."""

from motion_grpc.observability.ops import serve_op, update_op
from motion_grpc.observability.serving import ObservabilityOptions, add_arguments, attach, options_from

__all__ = ["ObservabilityOptions", "add_arguments", "attach", "options_from", "serve_op", "update_op"]
