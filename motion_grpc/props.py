"""The props object that user ops receive."""

from __future__ import annotations

from typing import Any

_UNSET: Any = object()


class Props(dict[str, Any]):
    """The props of one run: a dict, plus `serve_result` in update ops.

    As in Motion, update ops read what the serve op answered through
    `props.serve_result`; serve ops see None there.
    """

    __slots__ = ("_serve_result",)

    def __init__(self, *args: Any, serve_result: Any = _UNSET, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._serve_result = serve_result

    @property
    def serve_result(self) -> Any:
        return None if self._serve_result is _UNSET else self._serve_result

    def __reduce__(self) -> Any:
        if self._serve_result is _UNSET:
            return (Props, (dict(self),))
        return (_rebuild_props, (dict(self), self._serve_result))


def _rebuild_props(data: dict[str, Any], serve_result: Any) -> Props:
    return Props(data, serve_result=serve_result)
