"""The state mapping that user ops read."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any


class State(Mapping[str, Any]):
    """A read-only view of an instance's committed state.

    Ops read keys as from a dict; they change state only by returning a dict
    from an update op, so a serve op can never corrupt what others read.
    """

    __slots__ = ("_data", "instance_id", "version")

    def __init__(self, instance_id: str, data: Mapping[str, Any], version: int = 0) -> None:
        self._data = data
        self.instance_id = instance_id
        self.version = version

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        return f"State(instance_id={self.instance_id!r}, version={self.version}, {dict(self._data)!r})"

    def to_dict(self) -> dict[str, Any]:
        """A shallow copy as a plain dict."""
        return dict(self._data)
