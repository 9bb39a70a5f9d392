"""Administration of instances: paged listing, and migration functions carried by admin entries.

Listing walks a component's instance index with SSCAN (never KEYS), so a page
costs about one round trip however many instances exist. A page token is the
SSCAN cursor, plus the last id returned when a page ended inside one SSCAN
batch; batches are sorted, so resuming inside a batch skips exactly what was
already returned even if the set changed meanwhile.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import pickle
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

import cloudpickle

from motion_grpc import codec
from motion_grpc.engine.ops import describe_error
from motion_grpc.errors import InvalidArgumentError, OpError
from motion_grpc.store.keys import InstanceKeys
from motion_grpc.store.store import Store

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
MAX_SCANS_PER_PAGE = 16


def encode_token(cursor: int, after: str | None) -> str:
    text = f"{cursor}\n{after}" if after is not None else str(cursor)
    return base64.urlsafe_b64encode(text.encode()).decode()


def decode_token(token: str) -> tuple[int, str | None]:
    """(SSCAN cursor, last id returned in that batch or None); INVALID_ARGUMENT for garbage."""
    if not token:
        return 0, None
    try:
        text = base64.urlsafe_b64decode(token.encode()).decode()
        cursor_text, newline, after = text.partition("\n")
        cursor = int(cursor_text)
    except (binascii.Error, UnicodeError, ValueError):
        raise InvalidArgumentError("page_token is not a token this service returned") from None
    if not 0 <= cursor < 2**64:  # an SSCAN cursor is an unsigned 64-bit number
        raise InvalidArgumentError("page_token is not a token this service returned")
    return cursor, (after if newline else None)


def page_size_of(requested: int) -> int:
    if requested < 0:
        raise InvalidArgumentError("page_size must be >= 0 (0 picks the default)")
    return min(requested or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)


async def list_page(store: Store, component: str, page_size: int, token: str) -> tuple[list[str], str]:
    """One page of a component's instance ids and the token of the next page ('' at the end)."""
    size = page_size_of(page_size)
    cursor, after = decode_token(token)
    ids: list[str] = []
    next_token = ""
    for _ in range(MAX_SCANS_PER_PAGE):
        next_cursor, batch = await store.scan_instances(component, cursor, size)
        batch = sorted(set(batch))
        if after is not None:
            batch = [instance_id for instance_id in batch if instance_id > after]
            after = None
        room = size - len(ids)
        if len(batch) > room:
            ids += batch[:room]
            next_token = encode_token(cursor, ids[-1])
            break
        ids += batch
        cursor = next_cursor
        next_token = "" if cursor == 0 else encode_token(cursor, None)
        if cursor == 0 or len(ids) == size:
            break
    return await _existing(store, component, ids), next_token


async def _existing(store: Store, component: str, ids: list[str]) -> list[str]:
    # The index is updated after the instance's own keys (another slot), so it may name
    # an instance deleted a moment ago: report only those that exist.
    if not ids:
        return ids
    found = await store.existing([InstanceKeys.of(component, instance_id) for instance_id in ids])
    return [instance_id for instance_id, exists in zip(ids, found) if exists]


#: cloudpickle's by-value registry is process-wide: one registration at a time, or a thread
#: unregisters a module while another is still pickling with it.
_registry_lock = threading.Lock()


def dumps_function(func: Callable[..., Any]) -> bytes:
    """Pickle a migration function by value, so a worker in another process can run it.

    Functions of `__main__` are pickled by value anyway; a function of an importable
    module (`motion-grpc migrate app:Component migrations:func`) would be pickled as a
    reference that a server process may not be able to import. Safe from any thread.
    """
    module = sys.modules.get(getattr(func, "__module__", "") or "")
    if module is None or module.__name__ in ("__main__", "builtins"):
        return _dumps(func)
    with _registry_lock:
        if module.__name__ in cloudpickle.list_registry_pickle_by_value():
            return _dumps(func)  # registered by the caller: theirs to keep
        try:
            cloudpickle.register_pickle_by_value(module)
        except ValueError:
            return _dumps(func)  # a module cloudpickle cannot pickle by value: by reference then
        try:
            return _dumps(func)
        finally:
            cloudpickle.unregister_pickle_by_value(module)


def _dumps(func: Callable[..., Any]) -> bytes:
    data: bytes = cloudpickle.dumps(func, protocol=pickle.HIGHEST_PROTOCOL)
    return codec.sign_pickle(data)  # replicas load a function (it names code) only when signed


class LocalFunctions:
    """Migration functions this process queued, by their payload: its own drains run the function
    it holds instead of unpickling it back, so a tool without the state secret (which servers need
    to run it) still applies its own migration, and refuses unsigned pickles all the same."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._held: dict[bytes, tuple[Callable[..., Any], int]] = {}

    @contextlib.contextmanager
    def holding(self, payload: bytes, func: Callable[..., Any]) -> Iterator[None]:
        with self._lock:
            _, count = self._held.get(payload, (func, 0))
            self._held[payload] = (func, count + 1)
        try:
            yield
        finally:
            with self._lock:
                _, count = self._held[payload]
                if count == 1:
                    del self._held[payload]
                else:
                    self._held[payload] = (func, count - 1)

    def get(self, payload: bytes) -> Callable[..., Any] | None:
        with self._lock:
            held = self._held.get(payload)
        return None if held is None else held[0]


#: This process's queued migration functions (see LocalFunctions).
local_functions = LocalFunctions()


def load_function(what: str, payload: bytes) -> Callable[..., Any]:
    """A queued migration function; OpError when this process cannot unpickle it."""
    held = local_functions.get(payload)
    if held is not None:
        return held
    try:
        func = codec.loads(payload)
    except Exception as exc:
        raise OpError(f"{what} cannot be unpickled here: {describe_error(exc)}", type(exc).__name__) from exc
    if not callable(func):
        raise OpError(f"{what} is not a function but {type(func).__name__}", "TypeError")
    return func  # type: ignore[no-any-return]
