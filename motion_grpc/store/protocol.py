"""The Redis protocol: every literal the Lua scripts (store/scripts.py) and Python agree on.

The scripts spell these values out as Lua literals; tests/unit/test_protocol.py
reads the script sources and fails when a script and this module disagree.
Python code takes them from here only.

Codes and statuses are plain ints, not IntEnums: redis-py sends an int
argument as its repr(), and an IntEnum's repr is `<Status.APPLIED: 3>`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

# -- update-status events ----------------------------------------------------------
# Status numbers stored in events; they equal motion.v1.UpdateStatus.
QUEUED: Final = 1
RUNNING: Final = 2
APPLIED: Final = 3
FAILED: Final = 4
DISCARDED: Final = 5
EVENT_STATUSES: Final = (QUEUED, RUNNING, APPLIED, FAILED, DISCARDED)

# Fields of an event in the events stream, in the order the scripts' XADD writes them.
EVENT_UPDATE_ID: Final = "u"
EVENT_FLOW: Final = "f"
EVENT_OP: Final = "o"
EVENT_STATUS: Final = "s"
EVENT_VERSION: Final = "v"
EVENT_ENQUEUED_MS: Final = "q"
EVENT_AT_MS: Final = "t"
EVENT_ATTEMPT: Final = "a"
EVENT_ERROR_TYPE: Final = "et"
EVENT_ERROR_MESSAGE: Final = "em"
EVENT_FIELDS: Final = (
    EVENT_UPDATE_ID,
    EVENT_FLOW,
    EVENT_OP,
    EVENT_STATUS,
    EVENT_VERSION,
    EVENT_ENQUEUED_MS,
    EVENT_AT_MS,
    EVENT_ATTEMPT,
    EVENT_ERROR_TYPE,
    EVENT_ERROR_MESSAGE,
)

# Fields of an update entry in the updates stream, in the order ENQUEUE writes them
# (TAKE reads them by position).
ENTRY_FLOW: Final = "f"
ENTRY_OP: Final = "o"
ENTRY_PAYLOAD: Final = "p"
ENTRY_ENQUEUED_MS: Final = "t"
ENTRY_SEQ: Final = "n"
ENTRY_FIELDS: Final = (ENTRY_FLOW, ENTRY_OP, ENTRY_PAYLOAD, ENTRY_ENQUEUED_MS, ENTRY_SEQ)

# -- the meta hash of an instance ------------------------------------------------------
META_VERSION: Final = "version"
#: Id of the last update entry applied (or discarded).
META_LAST_APPLIED: Final = "last_applied"
#: The engine that made the latest commits, and the first version of its unbroken run of them.
META_COMMITTER: Final = "committer"
META_RUN_START: Final = "run_start"
META_COMPONENT: Final = "component"
META_INSTANCE_ID: Final = "instance_id"
META_CREATED_AT: Final = "created_at"
#: The lease token of the last TAKE that counted an attempt, and the id of the last entry it counted:
#: a TAKE sent again by the same holder (its reply was lost) does not count those entries again.
META_TAKEN_BY: Final = "taken_by"
META_TAKEN_THROUGH: Final = "taken_through"
META_FIELDS: Final = frozenset(
    {
        META_VERSION,
        META_LAST_APPLIED,
        META_COMMITTER,
        META_RUN_START,
        META_COMPONENT,
        META_INSTANCE_ID,
        META_CREATED_AT,
        META_TAKEN_BY,
        META_TAKEN_THROUGH,
    }
)
#: `lastq:<flow>`: id of the flow's newest entry (what a flush of one flow waits for).
META_LAST_QUEUED_PREFIX: Final = "lastq:"
#: `seq:<flow>\0<op>`: how many entries of the op were ever enqueued (NUM_NEW_UPDATES discards).
META_SEQ_PREFIX: Final = "seq:"
META_PREFIXES: Final = frozenset({META_LAST_QUEUED_PREFIX, META_SEQ_PREFIX})


def last_queued_field(flow: str) -> str:
    return f"{META_LAST_QUEUED_PREFIX}{flow}"


# -- script arguments --------------------------------------------------------------------
#: Yes/no arguments (may_acquire, groupable, lookup, changed) travel as '1' / '0'.
YES: Final = "1"
NO: Final = "0"
#: An optional argument left out (expect_version, cache_field, after, request_ttl_ms).
UNSET: Final = ""


def flag(value: bool) -> str:
    return YES if value else NO


# Discard kinds TAKE applies, and the reason (error type) of the DISCARDED event of each.
DISCARD_NONE: Final = 0
DISCARD_NUM_NEW_UPDATES: Final = 1
DISCARD_SECONDS: Final = 2
SUPERSEDED: Final = "superseded"
EXPIRED: Final = "expired"
DISCARD_REASONS: Final[Mapping[int, str]] = {DISCARD_NUM_NEW_UPDATES: SUPERSEDED, DISCARD_SECONDS: EXPIRED}

# -- reply codes ---------------------------------------------------------------------------
# INIT_BEGIN: the instance exists; the caller runs init_state; another caller is running it.
INIT_EXISTS: Final = 1
INIT_GRANTED: Final = 0
INIT_BUSY: Final = 2
# INIT_COMMIT answers the first version, or: the instance already existed.
INIT_EXISTED: Final = 0
# DELETE.
DELETED: Final = 1
NOTHING_DELETED: Final = 0
# TAKE: entries taken (then the version and entries follow); queue empty (lease released);
# call again (entries were discarded).
TAKEN: Final = 1
IDLE: Final = 0
TAKE_AGAIN: Final = 2
# RENEW, RELEASE and UNCOUNT: the lease was not the caller's (1 when it was).
NOT_RENEWED: Final = 0

# Shared by several scripts (negative: nothing was done).
#: The caller does not hold the lease (or init lock): another worker does, or it expired.
NOT_LEASE_HOLDER: Final = -1
VERSION_MISMATCH: Final = -2
NO_INSTANCE: Final = -3
QUEUE_FULL: Final = -4
ENTRY_GONE: Final = -5
STALE: Final = -6
CACHED: Final = -7
NOT_COMMITTED: Final = -8
#: ENQUEUE: the run's request id was seen before; the reply carries what that first call enqueued.
DUPLICATE_REQUEST: Final = -9
#: ENQUEUE: the run's request id was seen before, for another flow or other props.
REQUEST_REUSED: Final = -10

#: The reply codes of each script (besides data: versions, entry ids, counts).
REPLY_CODES: Final[Mapping[str, frozenset[int]]] = {
    "INIT_BEGIN": frozenset({INIT_EXISTS, INIT_GRANTED, INIT_BUSY}),
    "INIT_COMMIT": frozenset({INIT_EXISTED, NOT_LEASE_HOLDER}),
    "DELETE": frozenset({DELETED, NOTHING_DELETED}),
    "ENQUEUE": frozenset({NO_INSTANCE, DUPLICATE_REQUEST, REQUEST_REUSED, STALE, CACHED, QUEUE_FULL}),
    "TAKE": frozenset({NOT_COMMITTED, NOT_LEASE_HOLDER, NO_INSTANCE, TAKEN, IDLE, TAKE_AGAIN}),
    "COMMIT": frozenset({NOT_LEASE_HOLDER, VERSION_MISMATCH, ENTRY_GONE}),
    "RENEW": frozenset({NOT_RENEWED}),
    "RELEASE": frozenset({NOT_RENEWED}),
    "UNCOUNT": frozenset({NOT_RENEWED}),
}

# -- page sizes --------------------------------------------------------------------------
#: Entries TAKE looks at in one call before it answers TAKE_AGAIN (bounds the script's run time).
TAKE_SCAN_LIMIT: Final = 500
#: Entries TAKE reads per XRANGE.
TAKE_READ_BATCH: Final = 16
#: Answers an instance's serve cache holds at most: ENQUEUE empties it before adding one past this
#: (a flow whose updates change nothing keeps one version, and would keep an answer per props).
CACHE_MAX_ENTRIES: Final = 1000
#: Events read from an events stream per round trip (flush waits, watches).
EVENTS_PAGE: Final = 500
#: Instance ids of a component's pending set one sweep looks at.
SWEEP_PAGE: Final = 1000
