"""Loading a pickle nobody signed: plain values only, with bounded work.

A restricted unpickler resolves no global but a few constructors of plain
values, so loading runs no code. That alone does not bound the work: while it
builds a set, a frozenset or a dict, the unpickler hashes the items, and a
tuple's hash walks all of its nesting (3.11 keeps no tuple hash). Memo
references let a pickle of a few hundred bytes name a tuple of 2**60 leaves
(a hash that never ends), and 400,000 nested tuples in a set overflow the C
stack. So the opcodes are read first, mirroring the objects they would build,
and a pickle is refused before anything is built when what it would hash
exceeds MAX_HASHED items or nests deeper than MAX_NESTING; once loaded, the
value itself must hold at most MAX_EXPANDED_VALUES items, shared references
counted each time, and nest no deeper.
"""

from __future__ import annotations

import io
import pickle
import pickletools
from dataclasses import dataclass
from typing import Any

from motion_grpc.errors import UntrustedDataError
from motion_grpc.logs import shorten

#: The only names a restricted load resolves: constructors of plain values that run no user code.
SAFE_GLOBALS = frozenset(
    {
        ("builtins", "complex"),
        ("builtins", "set"),
        ("builtins", "frozenset"),
        ("collections", "OrderedDict"),
        ("datetime", "date"),
        ("datetime", "time"),
        ("datetime", "datetime"),
        ("datetime", "timedelta"),
        ("datetime", "timezone"),
        ("decimal", "Decimal"),
    }
)

#: Items (containers and what they hold, counted as reached) a load may hash, and its value expand
#: to: shared references let a few hundred bytes name billions.
MAX_EXPANDED_VALUES = 1_000_000
#: Items a load may hash, counted generously (a dict key, the parts of a date): twice what a
#: value of MAX_EXPANDED_VALUES items hashes.
MAX_HASHED = 4 * MAX_EXPANDED_VALUES
#: Nesting a value may have; Python's own pickler refuses deeper values (its recursion limit).
MAX_NESTING = 1_000

_MUTABLE = frozenset({pickletools.pylist, pickletools.pydict, pickletools.pyset})
#: Types a value walk need not look into.
_FLAT = frozenset({str, bytes, int, float, bool, type(None), complex})


def loads(data: bytes, scan: bool = True) -> Any:
    """Unpickle plain values only. UntrustedDataError for a pickle that names code (its `named`
    says which), would hash past MAX_HASHED or expand past MAX_EXPANDED_VALUES items, or nests
    past MAX_NESTING.

    `scan=False` skips reading the opcodes first, for a pickle this process just made of a live
    value: building that value again hashes no more than building it did.
    """
    if scan:
        _Scan(data).run()
    value = _PlainUnpickler(io.BytesIO(data)).load()
    _check_value(value)
    return value


class _Node:
    """What the scan knows of an object the pickle builds: the objects it holds."""

    __slots__ = ("items",)

    def __init__(self, items: list[_Node] | None = None) -> None:
        self.items: list[_Node] = items if items is not None else []


class _Tuple(_Node):
    """A tuple: the one container whose hash hashes what it holds, each time (3.11 keeps none)."""

    __slots__ = ()


_ATOM = _Node()  # a value holding nothing (a number, a string); never added to


@dataclass(frozen=True, slots=True)
class _Opcode:
    """How the scan reads one opcode: its argument's size and what it does to the stack."""

    name: str
    size: int  # bytes of argument; pickletools' negative codes for a line or a length prefix
    action: str  # "push", "build", "add", "get", "put"; or MARK, DUP, POP, STOP
    fixed: int = 0  # operands below any mark
    marked: bool = False  # also takes everything down to the mark
    pushes: int = 0
    mutable: bool = False
    tuple: bool = False
    hashes: str = ""  # "all" operands, "keys" (every other one), "args" (a constructor's), or none


_LENGTH_BYTES = {
    pickletools.TAKEN_FROM_ARGUMENT1: 1,
    pickletools.TAKEN_FROM_ARGUMENT4: 4,
    pickletools.TAKEN_FROM_ARGUMENT4U: 4,
    pickletools.TAKEN_FROM_ARGUMENT8U: 8,
}
_MEMO_ACTIONS = {"PUT": "put", "BINPUT": "put", "LONG_BINPUT": "put", "MEMOIZE": "put"}
_MEMO_ACTIONS.update({"GET": "get", "BINGET": "get", "LONG_BINGET": "get"})
_OWN_ACTIONS = frozenset({"MARK", "STOP", "DUP", "POP"})
_ADDS = frozenset({"APPEND", "APPENDS", "SETITEM", "SETITEMS", "ADDITEMS", "BUILD"})
_HASHES = {"SETITEM": "keys", "SETITEMS": "keys", "DICT": "keys", "ADDITEMS": "all", "FROZENSET": "all"}
_HASHES.update(OBJ="all", INST="all", REDUCE="args", NEWOBJ="args", NEWOBJ_EX="args")


def _opcode(info: pickletools.OpcodeInfo) -> _Opcode:
    size = info.arg.n if info.arg is not None else 0
    before = info.stack_before
    marked = pickletools.markobject in before
    fixed = before.index(pickletools.markobject) if marked else len(before)
    if info.name in _MEMO_ACTIONS:
        action = _MEMO_ACTIONS[info.name]
    elif info.name in _OWN_ACTIONS:
        action = info.name
    elif info.name in _ADDS:
        action, fixed = "add", fixed - 1  # the container stays
    else:
        action = "build" if before else "push"
    return _Opcode(
        info.name,
        size,
        action,
        fixed,
        marked,
        len(info.stack_after),
        any(kind in _MUTABLE for kind in info.stack_after),
        pickletools.pytuple in info.stack_after,
        _HASHES.get(info.name, ""),
    )


_OPCODES: dict[int, _Opcode] = {ord(info.code): _opcode(info) for info in pickletools.opcodes}


class _Scan:
    """Reads the opcodes of a pickle as the unpickler would, building a _Node for each object, and
    counts what the unpickler would hash: the keys of a dict, the items of a set, the arguments of
    a constructor."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._stack: list[_Node] = []
        self._marks: list[int] = []  # stack heights at each MARK, as the unpickler keeps them
        self._memo: dict[int, _Node] = {}
        self._hashed = 0

    def run(self) -> None:
        data, stack, memo = self._data, self._stack, self._memo
        at, end = 0, len(data)
        try:
            while at < end:
                op = _OPCODES.get(data[at])
                if op is None:
                    raise ValueError(f"unknown opcode {data[at]:#x}")
                arg_at = at + 1
                at = arg_at + op.size if op.size >= 0 else self._skip_argument(op, arg_at)
                action = op.action
                if action == "push":
                    stack.append(_Node() if op.mutable else _ATOM)
                elif action == "build":
                    self._build(op)
                elif action == "add":
                    self._add(op)
                elif action == "get":
                    stack.append(memo.get(self._index(op, arg_at, at), _ATOM))  # a missing one fails the load
                elif action == "put":
                    memo[len(memo) if op.name == "MEMOIZE" else self._index(op, arg_at, at)] = self._top()
                elif action == "MARK":
                    self._marks.append(len(stack))
                elif action == "DUP":
                    stack.append(self._top())
                elif action == "POP":
                    self._pop()
                else:  # STOP
                    return
            raise ValueError("truncated")
        except (ValueError, IndexError) as exc:  # malformed: what the unpickler refuses too
            raise pickle.UnpicklingError(f"not a valid pickle: {exc}") from None

    def _skip_argument(self, op: _Opcode, at: int) -> int:
        """Where the opcode after `op`, whose argument of variable size starts at `at`, starts."""
        if op.size == pickletools.UP_TO_NEWLINE:
            for _ in range(2 if op.name in ("GLOBAL", "INST") else 1):
                at = self._data.index(b"\n", at) + 1
            return at
        prefix = _LENGTH_BYTES[op.size]
        signed = op.size == pickletools.TAKEN_FROM_ARGUMENT4
        length = int.from_bytes(self._data[at : at + prefix], "little", signed=signed)
        if length < 0:
            raise ValueError("a negative length")
        return at + prefix + length

    def _index(self, op: _Opcode, arg_at: int, after: int) -> int:
        if op.size == pickletools.UP_TO_NEWLINE:
            return int(self._data[arg_at : after - 1])
        return int.from_bytes(self._data[arg_at:after], "little")

    def _floor(self) -> int:
        return self._marks[-1] if self._marks else 0

    def _top(self) -> _Node:
        if len(self._stack) <= self._floor():
            raise ValueError("stack underflow")
        return self._stack[-1]

    def _pop(self) -> None:
        if self._marks and self._marks[-1] == len(self._stack):
            self._marks.pop()  # POP takes a MARK off when it is on top, as the unpickler does
        else:
            self._stack.pop()

    def _taken(self, op: _Opcode) -> list[_Node]:
        stack = self._stack
        taken: list[_Node] = []
        if op.marked:
            if not self._marks:
                raise ValueError("no MARK")
            mark = self._marks.pop()
            taken = stack[mark:]
            del stack[mark:]
        if op.fixed:
            if len(stack) - op.fixed < self._floor():
                raise ValueError("stack underflow")
            taken[:0] = stack[-op.fixed :]
            del stack[-op.fixed :]
        if op.hashes == "args":  # (callable, args, ...): set(items) hashes what each argument holds
            self._hash([held for args in taken[1:] for held in args.items], counted=False)
        elif op.hashes:
            self._hash(taken[0::2] if op.hashes == "keys" else taken)
        return taken

    def _build(self, op: _Opcode) -> None:
        """An opcode that takes its operands off the stack and pushes what it makes of them."""
        taken = self._taken(op)
        made = (_Tuple if op.tuple else _Node)(taken) if taken or op.mutable else _ATOM
        self._stack += [made] * op.pushes

    def _add(self, op: _Opcode) -> None:
        """An opcode that adds its operands to the container below them."""
        taken = self._taken(op)
        container = self._top()
        if container is not _ATOM:
            container.items += taken

    def _hash(self, nodes: list[_Node], counted: bool = True) -> None:
        """Count the items hashing `nodes` (or, not `counted`, what they hold) would reach, across
        the whole load: a hash goes into the items of tuples, nowhere else."""
        level, depth = nodes, 0
        while level:
            depth += 1
            if depth > MAX_NESTING:
                raise _too_deep()
            self._hashed += len(level) if counted else 0
            below: list[_Node] = []
            for node in level:
                if counted and type(node) is not _Tuple:
                    continue
                below += node.items
                if self._hashed + len(below) > MAX_HASHED:
                    raise UntrustedDataError(
                        f"an unsigned pickle whose loading hashes more than {MAX_HASHED:,} items "
                        "(shared references expanded); refused"
                    )
            level, counted = below, True


def _check_value(value: Any) -> None:
    """The loaded value, walked as a consumer (JSON, a comparison, a hash) would walk it."""
    level: list[Any] = [value]
    reached, depth = 1, 0
    while level:
        depth += 1
        if depth > MAX_NESTING:
            raise _too_deep()
        below: list[Any] = []
        for item in level:
            if type(item) in _FLAT:
                continue
            if isinstance(item, dict):
                below += item
                below += item.values()
            elif isinstance(item, (list, tuple, set, frozenset)):
                below += item
            if reached + len(below) > MAX_EXPANDED_VALUES:
                raise UntrustedDataError(
                    f"an unsigned pickle whose values, with their shared references, expand past "
                    f"{MAX_EXPANDED_VALUES:,} items; refused"
                )
        reached += len(below)
        level = below


def _too_deep() -> UntrustedDataError:
    return UntrustedDataError(f"an unsigned pickle nesting values deeper than {MAX_NESTING:,}; refused")


def _plain_bytearray(*args: Any) -> bytearray:
    """bytearray of bytes or text, as pickles of one are; never of a size (a few bytes asking for GiBs)."""
    if args and not isinstance(args[0], (bytes, str)):
        raise UntrustedDataError("an unsigned pickle making a bytearray of a size; refused")
    return bytearray(*args)


class _PlainUnpickler(pickle.Unpickler):
    """Resolves no global but the plain value types of SAFE_GLOBALS, so loading runs no code."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("builtins", "bytearray"):
            return _plain_bytearray
        if (module, name) in SAFE_GLOBALS:
            return super().find_class(module, name)
        named = shorten(f"{module}.{name}", 80)
        refused = UntrustedDataError(f"an unsigned pickle naming {named}; refused, as loading it runs code")
        refused.named = named
        raise refused

    def persistent_load(self, pid: Any) -> Any:
        raise UntrustedDataError("an unsigned pickle with a persistent id; refused")


__all__ = ["MAX_EXPANDED_VALUES", "MAX_HASHED", "MAX_NESTING", "SAFE_GLOBALS", "loads"]
