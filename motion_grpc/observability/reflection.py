"""gRPC server reflection, answering for method names too.

protobuf's Python descriptor pool finds the file of a message or a service
but not of a method (`motion.v1.MotionService.Run`), which is what
`grpcurl describe SERVICE.METHOD` asks for: such a lookup is answered with
the file of the method's service, as the C++ and Go servers do.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from grpc import aio
from grpc_reflection.v1alpha import reflection, reflection_pb2_grpc
from grpc_reflection.v1alpha._async import ReflectionServicer

from motion_grpc.grpc_handlers import GenericOnly


class _MethodAwareReflection(ReflectionServicer):  # type: ignore[misc]
    def _file_containing_symbol(self, request: Any, fully_qualified_name: str) -> Any:
        service, _, method = fully_qualified_name.rpartition(".")
        try:
            self._pool.FindFileContainingSymbol(fully_qualified_name)
        except KeyError:
            if service and method and self._is_method(service, method):
                fully_qualified_name = service
        return super()._file_containing_symbol(request, fully_qualified_name)

    def _is_method(self, service: str, method: str) -> bool:
        try:
            return method in self._pool.FindServiceByName(service).methods_by_name
        except KeyError:
            return False


def enable(server: aio.Server, services: Sequence[str]) -> None:
    """Serve reflection for `services` (and for the reflection service itself)."""
    names = (*services, reflection.SERVICE_NAME)
    servicer = _MethodAwareReflection(names)
    reflection_pb2_grpc.add_ServerReflectionServicer_to_server(servicer, GenericOnly(server))


__all__ = ["enable"]
