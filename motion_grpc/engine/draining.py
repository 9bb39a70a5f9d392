"""Applying one instance's queued updates, in order, under its lease.

At-least-once execution, exactly-once effect: an op may run again after a
crash, but the commit script records the applied entry with the state
change, so its effect lands once. Each step is one script: TAKE (lease,
discards, RUNNING, attempt count) before an op, COMMIT after it, and a
commit carries the next take in the same round trip.

A drain that keeps finding a few new cheap entries after each commit (a
caller running a flow over and over) waits `group_wait` before applying
them, so the entries that arrive meanwhile are taken and committed together
next: one take and one commit for several runs, and far less of the
caller's CPU and GIL spent on the drain beside it. The first take of a
drain (an idle instance woken) and a full group never wait.

A drain opened by a run's enqueue (its instance idle here) sends its first
take in the enqueue's round trip, and answers the run when that lands.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import logging
import time
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from motion_grpc.definition import ComponentDefinition, DiscardPolicy
from motion_grpc.engine import failures
from motion_grpc.engine.applying import ADMIN_FLOW, Applied, Applier, failed
from motion_grpc.engine.instances import Instances
from motion_grpc.engine.leases import LeaseKeeper
from motion_grpc.engine.snapshots import InstanceRuntime, Runtimes, Snapshot
from motion_grpc.engine.state_codec import has_hooks
from motion_grpc.errors import (
    FailedPreconditionError,
    MotionError,
    NotFoundError,
    ResourceExhaustedError,
    StoreUnavailableError,
)
from motion_grpc.observability import updates as observed
from motion_grpc.store import protocol
from motion_grpc.store.drain_calls import TakeAfterEnqueueError
from motion_grpc.store.keys import InstanceKeys
from motion_grpc.store.records import EnqueueRequest, EnqueueResult, Entry, Taken
from motion_grpc.store.store import Store

log = logging.getLogger(__name__)

T = TypeVar("T")

#: At most this many cheap update ops are applied together under one commit.
GROUP_MAX = 32
#: A commit Redis refuses (out of memory, unreachable) is sent again for this long, first after
#: COMMIT_RETRY_FIRST seconds, doubling up to 1 s.
COMMIT_RETRY_SECONDS = 30.0
COMMIT_RETRY_FIRST = 0.05
#: An update op is cheap (groupable) when it takes less than this on average.
FAST_OP_SECONDS = 0.002
_DISCARD_KINDS = {
    DiscardPolicy.NUM_NEW_UPDATES: protocol.DISCARD_NUM_NEW_UPDATES,
    DiscardPolicy.SECONDS: protocol.DISCARD_SECONDS,
}


@dataclass(frozen=True)
class OpPolicy:
    """What TAKE must know of one update op (see store.scripts.TAKE)."""

    key: str  # flow \0 op
    discard_kind: int
    discard_after: float
    batch_size: int
    groupable: bool

    def args(self) -> tuple[Any, ...]:
        return (
            self.key,
            self.discard_kind,
            self.discard_after,
            self.batch_size,
            protocol.flag(self.groupable),
        )


@dataclass(frozen=True)
class Opening:
    """A run's enqueue that opens the drain of its idle instance, and the run awaiting it."""

    request: EnqueueRequest
    enqueued: asyncio.Future[EnqueueResult]

    def land(self, enqueued: EnqueueResult) -> None:
        if not self.enqueued.done():
            self.enqueued.set_result(enqueued)

    def fail(self, exc: BaseException) -> None:
        if self.enqueued.done():
            return
        if isinstance(exc, asyncio.CancelledError):
            self.enqueued.cancel()
        else:
            self.enqueued.set_exception(exc)
            self.enqueued.exception()  # retrieved: a run cancelled meanwhile is not told


class LeaseLostError(Exception):
    """This worker's lease is gone: stop without committing anything more."""


class DrainBackoffError(Exception):
    """The instance cannot be worked on now (its state cannot be loaded): try again after `delay`.

    The attempt is counted (TAKE did), so an instance that never loads ends its
    head entry FAILED after max_attempts, and the worker stays cold meanwhile;
    unless not `counted`: the entries could not be tried for a reason not theirs
    (the server stopping, no process to run a retry in), and the attempt is taken
    back as the lease is.
    """

    def __init__(self, delay: float, reason: str, counted: bool = True) -> None:
        super().__init__(reason)
        self.delay = delay
        self.reason = reason
        self.counted = counted
        #: The entries whose attempt is taken back when not `counted` (set by the drain).
        self.entry_ids: tuple[str, ...] = ()


class ProcessExitedError(Exception):
    """The process applying entries for this one (see Isolation) died with `in_hand` of them."""

    def __init__(self, exitcode: int | None, in_hand: int) -> None:
        how = "killed by a signal" if exitcode is None or exitcode < 0 else f"exit code {exitcode}"
        hand = f" with {in_hand} update(s) in hand" if in_hand else ""
        super().__init__(f"the process applying it ended ({how}){hand}")
        self.exitcode = exitcode
        self.in_hand = in_hand


class Isolation(Protocol):
    """Applies retried entries (an earlier attempt never finished) in another process, so that an
    op that ends its process cannot end this one (see server.isolation)."""

    async def __call__(self, keys: InstanceKeys, component: ComponentDefinition, taken: Taken) -> Applied:
        """The records and patch of `taken`; ProcessExitedError when the process applying it dies."""

    async def close(self) -> None:
        """Stop; an apply still in hand ends in a DrainBackoffError that is not `counted`."""


#: The error type of an entry whose op ended the process that ran it alone.
PROCESS_EXITED = "ProcessExited"


@dataclass(frozen=True)
class DrainSettings:
    max_attempts: int = 3
    #: Seconds a drain waits before applying a small group of cheap entries it found after a commit.
    group_wait: float = 0.002
    #: First wait before retrying an instance whose state could not be loaded; doubles per attempt.
    backoff: float = 0.5
    backoff_max: float = 30.0


@dataclass(frozen=True)
class DrainPolicies:
    """What TAKE is told of a component's update ops, as of the op times measured so far."""

    args: tuple[tuple[Any, ...], ...]  # shared by every drain of the component: never changed
    groupable: frozenset[str]  # flow \0 op of the ops whose entries are applied in groups
    #: Ops that could be grouped but had not been timed yet: once one of them has run, ask again
    #: (a drain that starts on a backlog before any op ran would otherwise never group).
    untimed: frozenset[str]


@dataclass
class _Drain:
    """One drain of one instance: its lease token, and whether it holds the lease."""

    keys: InstanceKeys
    component: ComponentDefinition
    token: str
    policies: DrainPolicies
    #: Called as each take is sent: what the instance was notified of until then, it takes.
    taking: Callable[[], None]
    #: The enqueue the first take rides along with, if a run's enqueue opened this drain.
    opening: Opening | None = None
    #: Asked at each commit: whether to stop after it, leaving the rest queued, so the drain's slot
    #: goes to an instance waiting for one (see UpdateScheduler).
    turn_over: Callable[[], bool] = lambda: False
    held: bool = False
    #: Committed without taking more, to stop: by turning over, or because the drainer stops.
    ending: bool = False
    commits: int = 0

    def waits_for_more(self, taken: Taken) -> bool:
        """Whether entries taken after a commit are a group that could still grow."""
        return len(taken.entries) < GROUP_MAX and all(
            _op_key(entry) in self.policies.groupable for entry in taken.entries
        )

    def timed_new_ops(self, ran: Taken) -> bool:
        """Whether the entries just applied ran an op that was untimed when the policies were made."""
        return bool(self.policies.untimed) and any(
            _op_key(entry) in self.policies.untimed for entry in ran.entries
        )


class Drainer:
    """Drains the update queue of an instance as the lease holder."""

    def __init__(
        self,
        store: Store,
        components: Callable[[str], ComponentDefinition | None],
        runtimes: Runtimes,
        instances: Instances,
        applier: Applier,
        leases: LeaseKeeper,
        settings: DrainSettings,
        progressed: Callable[[InstanceKeys, str | None], None] = lambda keys, ended: None,
        isolation: Isolation | None = None,
    ) -> None:
        self._store = store
        self._components = components
        self._runtimes = runtimes
        self._instances = instances
        self._applier = applier
        self._leases = leases
        self._settings = settings
        #: Called after each commit with the last entry it ended, and with None after a take that
        #: discarded entries or a commit that was refused: waiters here look again (see signals).
        self._progressed = progressed
        self._isolation = isolation
        self.stopping = False
        self._lease_tokens = itertools.count()
        self._load_errors: dict[InstanceKeys, str] = {}  # why an instance's state last failed to load
        #: Per component (a replaced one is a new definition): (op times generation, its policies).
        self._policies: weakref.WeakKeyDictionary[ComponentDefinition, tuple[int, DrainPolicies]] = (
            weakref.WeakKeyDictionary()
        )

    async def drain(
        self,
        keys: InstanceKeys,
        taking: Callable[[], None] = lambda: None,
        opening: Opening | None = None,
        turn_over: Callable[[], bool] = lambda: False,
    ) -> bool:
        """Apply every queued entry of an instance, unless another worker holds its lease.

        Returns True when another worker held the lease (it applies them; should it die,
        try again when its lease expires). Raises DrainBackoffError (lease handed back)
        when the instance must wait before a retry. `taking` is called as each take
        is sent: an enqueue that landed before then is seen by that take. An `opening`
        enqueue is sent with the first take; its run is answered when it lands. When
        `turn_over()` says so at a commit, the drain stops there and hands the lease back
        with entries still queued.
        """
        component = self._components(keys.component)
        if component is None or self.stopping:
            if opening is not None:  # not drained here: a sweep (elsewhere, or later) will
                await self._enqueue_alone(opening)
            return False
        token = f"{self._store.engine_id}.{next(self._lease_tokens)}"  # unique, and no getrandom per drain
        drain = _Drain(keys, component, token, self._policies_of(component), taking, opening, turn_over)
        try:
            return await self._drain_held(drain)
        except LeaseLostError:
            drain.held = False
            log.warning("lease of %s/%s lost while draining", keys.component, keys.instance_id)
            return True
        except DrainBackoffError as exc:
            if drain.held:  # handed back quietly: a wake-up now would only retry at once
                drain.held = False
                try:
                    if not exc.counted and exc.entry_ids:
                        await self._store.uncount_attempts(keys, drain.token, exc.entry_ids)
                except MotionError as uncount_error:  # the attempt stays counted; the lease goes back
                    log.warning("could not take back the attempt of %s/%s: %s",
                                keys.component, keys.instance_id, uncount_error)  # fmt: skip
                finally:
                    await self._store.release(keys.lease, drain.token)
            raise
        finally:
            self._leases.drop(keys.lease, drain.token)
            if drain.held:
                await self._hand_back(keys, drain.token)

    async def _drain_held(self, drain: _Drain) -> bool:
        keys = drain.keys
        applied = False
        taken: Taken | None = None
        sent = 0.0  # when the last take of the branch below was sent (the lease's TTL was set)
        while taken is not None or not (self.stopping or drain.ending):  # what is taken is in hand: apply it
            if taken is None:
                drain.taking()
                sent = time.monotonic()
                taken = await (self._open(drain, drain.opening) if drain.opening else self._take(drain))
            observed.discarded(keys.component, taken.discarded)  # by this take, or the one after a commit
            if taken.discarded:
                self._progressed(keys, None)
            if taken.code in (protocol.TAKEN, protocol.TAKE_AGAIN) and not drain.held:
                drain.held = True
                self._leases.hold(keys.lease, drain.token, sent)
                observed.lease_taken(keys, taken)
            if taken.code == protocol.TAKEN:
                if applied and not self.stopping and drain.waits_for_more(taken):
                    await asyncio.sleep(self._settings.group_wait)
                ran, taken = taken, await self._apply(drain, taken)
                applied = True
                if drain.timed_new_ops(ran):
                    drain.policies = self._policies_of(drain.component)
                continue
            if taken.code != protocol.TAKE_AGAIN:
                if taken.code == protocol.NOT_LEASE_HOLDER and drain.held:
                    raise LeaseLostError
                drain.held = False  # idle or gone: the script released the lease
                if taken.code == protocol.NOT_LEASE_HOLDER:
                    return True
                # The take settled the pending set itself, where it can (one slot). On a cluster
                # an instance stays in it while busy; a drain that finds nothing (a sweep's)
                # takes it out, so a busy instance costs no extra trip.
                settled = self._store.take_settles_pending or applied
                if settled or not await self._store.settle_pending(keys):
                    return False
            taken = None
        return False

    async def _take(self, drain: _Drain) -> Taken:
        """A take, sent again with the same token while Redis does not answer, up to the lease's TTL:
        one whose reply was lost counted its entries, which only this token's next take does not
        count again (see scripts.TAKE)."""
        keys, ttl_ms = drain.keys, self._leases.ttl_ms
        take = functools.partial(
            self._store.take, keys, drain.token, ttl_ms, drain.policies.args, not drain.held, GROUP_MAX
        )
        return await _while_refused(take, lambda: self.stopping, keys, "take", ttl_ms / 1000)

    async def _open(self, drain: _Drain, opening: Opening) -> Taken:
        """The first take, sent with the enqueue that opened the drain; that enqueue's run is answered."""
        drain.opening = None
        try:
            enqueued, taken = await self._store.enqueue_then_take(
                opening.request, drain.token, self._leases.ttl_ms, drain.policies.args, GROUP_MAX
            )
        except TakeAfterEnqueueError as exc:  # the run took effect: answer it; a later drain applies it
            opening.land(exc.enqueued)
            drain.held = True
            raise exc.error from exc
        except BaseException as exc:
            opening.fail(exc)
            drain.held = True  # the take may have leased the instance: hand it back (no-op if not)
            raise
        opening.land(enqueued)
        return taken

    async def _enqueue_alone(self, opening: Opening) -> None:
        try:
            enqueued = await self._store.enqueue(opening.request)
        except BaseException as exc:
            opening.fail(exc)
            raise
        opening.land(enqueued)

    async def _hand_back(self, keys: InstanceKeys, token: str) -> None:
        """Release the lease of an instance left with queued entries (shutting down, or turning
        its slot over), and say so, so another process may take it over at once rather than at
        its next sweep."""
        try:
            await self._store.release(keys.lease, token)
            await self._store.publish_wake(keys)
        except MotionError as exc:
            log.debug("could not hand back %s: %s", keys.instance_id, exc)

    def _policies_of(self, component: ComponentDefinition) -> DrainPolicies:
        """Discard policies, batch sizes, and which ops are cheap enough to group (TAKE's arguments);
        made again only once an op of the component was first timed or turned fast or slow."""
        generation = self._applier.op_times.generation
        kept = self._policies.get(component)
        if kept is not None and kept[0] == generation:
            return kept[1]
        policies = self._make_policies(component)
        self._policies[component] = (generation, policies)
        return policies

    def _make_policies(self, component: ComponentDefinition) -> DrainPolicies:
        policies: list[OpPolicy] = []
        untimed: set[str] = set()
        times = self._applier.op_times
        for flow in component.flows():
            for op in flow.updates:
                key = f"{flow.key}\0{op.name}"
                kind = _DISCARD_KINDS.get(op.discard_policy, protocol.DISCARD_NONE)
                # each op must see its state through load_state: never grouped with hooks
                candidate = not kind and op.batch_size == 1 and not has_hooks(component)
                if candidate and not times.timed(component.name, key):
                    untimed.add(key)
                groupable = candidate and times.is_fast(component.name, key)
                if kind or op.batch_size > 1 or groupable:
                    policies.append(OpPolicy(key, kind, op.discard_after or 0.0, op.batch_size, groupable))
        groupable_keys = frozenset(policy.key for policy in policies if policy.groupable)
        args = tuple(policy.args() for policy in policies)
        return DrainPolicies(args, groupable_keys, frozenset(untimed))

    async def _apply(self, drain: _Drain, taken: Taken) -> Taken | None:
        """Run the taken entries and commit them; the next take, when it rode along with the commit."""
        keys = drain.keys
        runtime = self._runtimes.get(keys)
        attempts = max(taken.attempts)
        if attempts > self._settings.max_attempts:  # before anything else that could fail again
            reason = self._give_up_reason(keys, attempts - 1)
            exhausted = _exhausted(taken, self._settings.max_attempts, reason)
            return await self._commit(drain, runtime, taken.version, exhausted)
        snapshot = await self._snapshot_for(drain, runtime, taken)
        if attempts > 1 and self._isolation is not None:
            try:
                applied = await _apply_isolated(self._isolation, drain, taken, self._settings.backoff)
            except DrainBackoffError as exc:
                exc.entry_ids = tuple(entry.id for entry in taken.entries)
                raise
        else:
            applied = await self._applier.apply(keys, drain.component, snapshot, taken)
        return await self._commit(drain, runtime, snapshot.version, applied)

    async def apply_taken(self, keys: InstanceKeys, taken: Taken) -> Applied:
        """Apply entries another process took, and commits, under its lease (its retries: see
        Isolation), on the state in Redis at their version."""
        component = self._components(keys.component)
        if component is None:
            raise NotFoundError(f"component {keys.component} is not hosted here")
        snapshot = await self._instances.load_snapshot(InstanceRuntime(keys), component)
        if snapshot.version != taken.version:
            raise FailedPreconditionError(f"the state is at version {snapshot.version}, not {taken.version}")
        return await self._applier.apply(keys, component, snapshot, taken)

    async def _snapshot_for(self, drain: _Drain, runtime: InstanceRuntime, taken: Taken) -> Snapshot:
        """The state the taken entries apply to; DrainBackoffError when it cannot be loaded."""
        snapshot = runtime.snapshot
        if snapshot is not None and snapshot.version == taken.version:
            return snapshot
        try:
            snapshot = await self._instances.load_snapshot(runtime, drain.component)
        except FailedPreconditionError as exc:
            self._load_errors[drain.keys] = exc.message
            if len(self._load_errors) > 10_000:
                self._load_errors.pop(next(iter(self._load_errors)))
            attempt = max(taken.attempts)
            delay = min(self._settings.backoff_max, self._settings.backoff * 2 ** max(0, attempt - 1))
            raise DrainBackoffError(delay, exc.message) from exc
        self._load_errors.pop(drain.keys, None)
        return snapshot

    def _give_up_reason(self, keys: InstanceKeys, attempts: int) -> str:
        cause = self._load_errors.pop(keys, None)
        if cause is not None:
            return f"gave up after {attempts} attempts: the instance's state could not be loaded ({cause})"
        return f"gave up after {attempts} attempts that did not finish (worker crashed?)"

    async def _commit(
        self, drain: _Drain, runtime: InstanceRuntime, base: int, applied: Applied
    ) -> Taken | None:
        """`_commit_once`, sent again while Redis refuses it, for up to COMMIT_RETRY_SECONDS: the ops'
        work is in hand and the lease held, and an attempt given up would count toward
        AttemptsExhausted as if the op had crashed."""
        commit = functools.partial(self._commit_once, drain, runtime, base, applied)
        return await _while_refused(commit, lambda: self.stopping, drain.keys, "commit", COMMIT_RETRY_SECONDS)

    async def _commit_once(
        self, drain: _Drain, runtime: InstanceRuntime, base: int, applied: Applied
    ) -> Taken | None:
        """Commit on top of version `base`, and unless stopping take the next entries in the same trip."""
        keys = drain.keys
        # An instance turns its slot over from its second commit on: one that had a single update
        # queued keeps the take riding along with its first commit (finding the queue empty).
        drain.commits += 1
        drain.ending = drain.ending or self.stopping or (drain.commits > 1 and drain.turn_over())
        with runtime.committing():  # until the snapshot has caught up, nobody serves from it unchecked
            if drain.ending:  # taking nothing more: no attempt is spent on what stays queued
                version = await self._store.commit(keys, drain.token, base, applied.patch, applied.records)
                taken = None
            else:
                drain.taking()
                version, taken = await self._store.commit_then_take(
                    keys, drain.token, base, applied.patch, applied.records,
                    self._leases.ttl_ms, drain.policies.args, GROUP_MAX,
                )  # fmt: skip
            if version == protocol.NOT_LEASE_HOLDER:
                raise LeaseLostError
            if version < 0:
                # The entry was already committed, or the version moved under us: reload on the next take.
                log.warning("commit on %s/%s refused (%d)", keys.component, keys.instance_id, version)
                runtime.snapshot = None
                self._progressed(keys, None)
                return taken
            if applied.changes:
                _fold(drain.component, runtime, base, version, applied)
            elif applied.patch:  # applied in another process (isolated): the next reader loads it
                runtime.snapshot = None
        self._progressed(keys, applied.records[-1].entry.id)
        _log_failures(keys, applied)
        observed.committed(keys.component, applied.records)
        return taken


async def _apply_isolated(isolation: Isolation, drain: _Drain, taken: Taken, backoff: float) -> Applied:
    """A retry, whose op may be what ended the process of the attempt before, elsewhere."""
    try:
        return await isolation(drain.keys, drain.component, taken)
    except ProcessExitedError as exc:
        if exc.in_hand > 1:  # which op ended it is not known: each is tried again, alone
            raise DrainBackoffError(backoff, str(exc)) from exc
        message = (
            f"{exc}, on attempt {max(taken.attempts)}: an op that ends the process running it "
            "(os._exit, a crash in native code, running out of memory) is not tried again"
        )
        pairs = zip(taken.entries, taken.attempts)
        return Applied([failed(entry, PROCESS_EXITED, message, attempt) for entry, attempt in pairs])


async def _while_refused(
    send: Callable[[], Awaitable[T]],
    stopping: Callable[[], bool],
    keys: InstanceKeys,
    what: str,
    seconds: float,
) -> T:
    """`send()`, sent again while Redis refuses it (out of memory, unreachable, a reply lost) for up
    to `seconds`, first after COMMIT_RETRY_FIRST seconds, doubling up to 1 s."""
    started, delay = time.monotonic(), COMMIT_RETRY_FIRST
    while True:
        try:
            return await send()
        except (ResourceExhaustedError, StoreUnavailableError) as exc:
            if stopping() or time.monotonic() - started >= seconds:
                raise
            if delay == COMMIT_RETRY_FIRST:
                log.warning("%s on %s/%s refused (%s); trying again",
                            what, keys.component, keys.instance_id, exc)  # fmt: skip
        await asyncio.sleep(delay)
        delay = min(delay * 2, 1.0)


def _exhausted(taken: Taken, max_attempts: int, reason: str) -> Applied:
    """AttemptsExhausted for the entries started more than `max_attempts` times. Only those: a
    batch may have taken newer ones behind them, which never ran when the others crashed (a take
    counts entries in queue order, so those past it lead). The rest stay queued, and this drain's
    next take does not count them again."""
    pairs = zip(taken.entries, taken.attempts)
    past = itertools.takewhile(lambda pair: pair[1] > max_attempts, pairs)
    return Applied([failed(entry, "AttemptsExhausted", reason, attempt) for entry, attempt in past])


def _op_key(entry: Entry) -> str:
    return f"{entry.flow}\0{entry.op}"


def _fold(
    component: ComponentDefinition,
    runtime: InstanceRuntime,
    base: int,
    version: int,
    applied: Applied,
) -> None:
    """Bring the snapshot to the committed version without reading Redis, when that is exact."""
    if has_hooks(component):
        runtime.snapshot = None  # ops see state through load_state: the next reader loads it
    else:
        runtime.advance(base, version, applied.changes, applied.patch)


def _log_failures(keys: InstanceKeys, applied: Applied) -> None:
    for record in applied.records:
        if record.status == protocol.FAILED:
            entry = record.entry
            flow = "(admin)" if entry.flow == ADMIN_FLOW else entry.flow
            failures.update_failed(keys.component, flow, entry.op, record.error_type, record.error_message)
