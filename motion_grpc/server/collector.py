"""The cyclic garbage collector of a serving process, set for many short-lived calls.

Each call allocates coroutines, futures and frames that reference counting
frees as the call ends. The cyclic collector still walks the young objects
every 700 net allocations (Python's default), promotes those of calls in flight
to older generations, and so now and then walks every object of the process:
modules, grpc, protobuf and the app, tens of milliseconds during which no call
is answered (one full collection took 63 ms in the bench's 1,000-user burst).
`settle()`, once the app is loaded and before the port opens, moves what
exists then to the permanent generation (`gc.freeze`: never walked again) and collects the young
generation less often. Cycles are still collected, only later.
"""

from __future__ import annotations

import gc

#: Net allocations of tracked objects between two collections of the young generation.
YOUNG_THRESHOLD = 10_000


def settle() -> None:
    """Collect start-up garbage, freeze what is left, and space out young collections."""
    gc.collect()
    gc.freeze()
    young, middle, old = gc.get_threshold()
    if young:  # 0: the collector was turned off on purpose; leave it so
        gc.set_threshold(max(young, YOUNG_THRESHOLD), middle, old)
