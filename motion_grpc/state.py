"""The state mapping that user ops read."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

#: Values shared as they are: nothing can change them in place.
_IMMUTABLE = frozenset({str, int, float, bool, type(None), bytes, complex, frozenset})


def private_copy(value: Any) -> Any:
    """A copy of the built-in containers (dicts, lists, sets, tuples, bytearrays) in `value`.

    Values shared between callers (the process's snapshot of an instance) are
    handed out this way, so `state["items"].append(x)` changes the caller's
    copy and not what every other op and caller reads. Other objects (a numpy
    array, a model) are shared as they are: copying them on every read would
    cost more than they are worth, and ops should not change them in place.
    """
    kind = type(value)
    if kind in _IMMUTABLE:
        return value
    try:
        return _copied(value, kind)
    except RecursionError:  # nested past the interpreter's limit, or a cycle: shared as it is
        return value


def _copied(value: Any, kind: type) -> Any:
    if kind is list:
        return [_item(item) for item in value]
    if kind is dict:
        return {key: _item(item) for key, item in value.items()}
    if kind is tuple:
        return tuple(_item(item) for item in value)
    if kind is set or kind is bytearray:
        return kind(value)
    return value


def _item(item: Any) -> Any:
    kind = type(item)
    return item if kind in _IMMUTABLE else _copied(item, kind)


class State(Mapping[str, Any]):
    """A read-only view of an instance's committed state.

    Ops read keys as from a dict; they change state only by returning a dict
    from an update op. Each view reads containers as its own copies (see
    `private_copy`), the same copy at every read of a key, so an op that
    changes one in place changes nothing that others read or that is stored.
    """

    __slots__ = ("_copies", "_data", "component_name", "instance_id", "version")

    def __init__(
        self, instance_id: str, data: Mapping[str, Any], version: int = 0, component_name: str = ""
    ) -> None:
        self._data = data
        self._copies: dict[str, Any] = {}
        self.instance_id = instance_id
        self.version = version
        self.component_name = component_name

    def __getitem__(self, key: str) -> Any:
        value = self._data[key]
        if type(value) in _IMMUTABLE:
            return value
        copies = self._copies
        if key not in copies:
            copies[key] = private_copy(value)
        return copies[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        """As a dict's, as Motion's dict state reads: a prompt built with f"{state}" reads the same."""
        return repr(dict(self._data))

    def to_dict(self) -> dict[str, Any]:
        """A plain dict of the state, its containers this view's copies."""
        return {key: self[key] for key in self._data}

    def copy(self) -> dict[str, Any]:
        """`to_dict`, under the name dict code uses (`new = state.copy()`, as on Motion's dict)."""
        return self.to_dict()

    def __or__(self, other: Mapping[str, Any]) -> dict[str, Any]:
        """`state | {...}`: a plain dict, as with a dict state."""
        if not isinstance(other, Mapping):
            return NotImplemented
        return {**self.to_dict(), **other}

    def __ror__(self, other: Mapping[str, Any]) -> dict[str, Any]:
        if not isinstance(other, Mapping):
            return NotImplemented
        return {**other, **self.to_dict()}
