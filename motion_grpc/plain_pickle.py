"""Loading a pickle nobody signed: plain values only, with bounded work.

A restricted unpickler resolves no global but a few constructors of plain
values, so loading runs no code. That alone does not bound the work: while it
builds a set, a frozenset or a dict, the unpickler hashes the items, and a
tuple's hash walks all of its nesting (3.11 keeps no tuple hash). Memo
references let a pickle of a few hundred bytes name a tuple of 2**60 leaves
(a hash that never ends), and 400,000 nested tuples in a set overflow the C
stack. So the opcodes are read first, mirroring the objects they would build,
and a pickle is refused before anything is built when it uses an opcode
pickle.dumps does not write for plain values, or when what it would hash
exceeds MAX_HASHED items, nests deeper than MAX_NESTING, or builds more than
MAX_BUILT objects; once loaded, the value itself must hold at most
MAX_EXPANDED_VALUES items, shared references counted each time, and nest no
deeper. (Ints chosen to collide in a set still cost time quadratic in their
number: a bound of the pickle's size, not of its cleverness.)
"""

from __future__ import annotations

import _compat_pickle
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
    """What the scan knows of an object the pickle builds: the objects it holds, and how deep."""

    __slots__ = ("depth", "items")

    def __init__(self, items: list[_Node] | None = None) -> None:
        self.items: list[_Node] = items if items is not None else []
        self.depth: int = 1 + max((item.depth for item in self.items), default=0)


class _Tuple(_Node):
    """A tuple: the one container whose hash hashes what it holds, each time (3.11 keeps none)."""

    __slots__ = ()


_ATOM = _Node()  # a value holding nothing (a number, a string); never added to
#: A string that may name a constructor hashing what its argument holds, and such a constructor.
_HASHING_NAME, _HASHING_CALLABLE = _Node(), _Node()
_HASHING_NAMES = (b"set", b"frozenset", b"OrderedDict")
_TEXTS = frozenset({"SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8"})
_ATOMS = (_ATOM, _HASHING_NAME, _HASHING_CALLABLE)

#: The opcodes pickle.dumps writes for the plain values of SAFE_GLOBALS (protocols 2 to 5); no other
#: is read (BUILD, OBJ, NEWOBJ, persistent ids, buffers, extensions, protocol 0's text forms).
_READ = frozenset(
    {
        "PROTO", "FRAME", "STOP", "MARK", "POP", "POP_MARK", "MEMOIZE", "BINPUT", "LONG_BINPUT",
        "BINGET", "LONG_BINGET", "NONE", "NEWTRUE", "NEWFALSE", "BININT", "BININT1", "BININT2",
        "LONG1", "LONG4", "BINFLOAT", "SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8",
        "SHORT_BINBYTES", "BINBYTES", "BINBYTES8", "BYTEARRAY8", "EMPTY_TUPLE", "TUPLE", "TUPLE1",
        "TUPLE2", "TUPLE3", "EMPTY_LIST", "APPEND", "APPENDS", "EMPTY_DICT", "SETITEM", "SETITEMS",
        "EMPTY_SET", "ADDITEMS", "FROZENSET", "GLOBAL", "STACK_GLOBAL", "REDUCE",
    }
)  # fmt: skip
#: Bytes of the largest int read: hashing an int walks all of it, each time (no hash is kept).
MAX_INT_BYTES = 1024
#: Objects (containers, a constructor's arguments) a load may build.
MAX_BUILT = 2 * MAX_EXPANDED_VALUES


@dataclass(frozen=True, slots=True)
class _Opcode:
    """How the scan reads one opcode: its argument's size and what it does to the stack."""

    name: str
    size: int  # bytes of argument; pickletools' negative codes for a line or a length prefix
    action: str  # "push", "build", "add", "get", "put"; or MARK, POP, STOP
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
_MEMO_ACTIONS = {
    "BINPUT": "put",
    "LONG_BINPUT": "put",
    "MEMOIZE": "put",
    "BINGET": "get",
    "LONG_BINGET": "get",
}
_OWN_ACTIONS = frozenset({"MARK", "STOP", "POP"})
_ADDS = frozenset({"APPEND", "APPENDS", "SETITEM", "SETITEMS", "ADDITEMS"})
_HASHES = {"SETITEM": "keys", "SETITEMS": "keys", "ADDITEMS": "all", "FROZENSET": "all", "REDUCE": "args"}


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


_OPCODES: dict[int, _Opcode] = {
    ord(info.code): _opcode(info) for info in pickletools.opcodes if info.name in _READ
}


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
        self._built = 0

    def run(self) -> None:
        data, stack, memo = self._data, self._stack, self._memo
        at, end = 0, len(data)
        try:
            while at < end:
                op = _OPCODES.get(data[at])
                if op is None:
                    raise _unread(data[at])
                arg_at = at + 1
                at = arg_at + op.size if op.size >= 0 else self._skip_argument(op, arg_at)
                action = op.action
                if action == "push":
                    if op.pushes:  # PROTO and FRAME push nothing
                        stack.append(self._pushed(op, arg_at, at))
                elif action == "build":
                    self._build(op)
                elif action == "add":
                    self._add(op)
                elif action == "get":
                    stack.append(memo.get(self._index(arg_at, at), _ATOM))  # a missing one fails the load
                elif action == "put":
                    self._put(op, arg_at, at)
                elif action == "MARK":
                    self._marks.append(len(stack))
                elif action == "POP":
                    self._pop()
                else:  # STOP
                    return
            raise ValueError("truncated")
        except (ValueError, IndexError) as exc:  # malformed: what the unpickler refuses too
            raise pickle.UnpicklingError(f"not a valid pickle: {exc}") from None

    def _skip_argument(self, op: _Opcode, at: int) -> int:
        """Where the opcode after `op`, whose argument of variable size starts at `at`, starts."""
        if op.size == pickletools.UP_TO_NEWLINE:  # GLOBAL: module and name, a line each
            for _ in range(2):
                at = self._data.index(b"\n", at) + 1
            return at
        prefix = _LENGTH_BYTES[op.size]
        length = int.from_bytes(self._data[at : at + prefix], "little")
        if op.name == "LONG4" and length > MAX_INT_BYTES:
            raise UntrustedDataError(
                f"an unsigned pickle with an int of more than {MAX_INT_BYTES * 8:,} bits; refused"
            )
        return at + prefix + length

    def _pushed(self, op: _Opcode, arg_at: int, after: int) -> _Node:
        """What an opcode taking no operand pushes."""
        if op.mutable:
            return self._made([], op)
        if op.name == "GLOBAL":
            name = self._data[arg_at:after].split(b"\n")[1]
            return _HASHING_CALLABLE if name in _HASHING_NAMES else _ATOM
        if op.name in _TEXTS and any(self._data.endswith(name, arg_at, after) for name in _HASHING_NAMES):
            return _HASHING_NAME  # (or a longer string ending so: counted as one, which is safe)
        return _ATOM

    def _index(self, arg_at: int, after: int) -> int:
        return int.from_bytes(self._data[arg_at:after], "little")

    def _put(self, op: _Opcode, arg_at: int, after: int) -> None:
        index = len(self._memo) if op.name == "MEMOIZE" else self._index(arg_at, after)
        if index > len(self._memo):  # pickle.dumps numbers them in order; the unpickler sizes for it
            raise UntrustedDataError("an unsigned pickle whose memo skips ahead; refused")
        self._memo[index] = self._top()

    def _made(self, items: list[_Node], op: _Opcode) -> _Node:
        self._built += 1
        if self._built > MAX_BUILT:
            raise UntrustedDataError(f"an unsigned pickle building more than {MAX_BUILT:,} objects; refused")
        node = _Tuple(items) if op.tuple else _Node(items)
        if node.depth > MAX_NESTING:
            raise _too_deep()
        return node

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
        if op.hashes == "args":  # set(items), OrderedDict(pairs): whatever the arguments hold, any type
            if taken[0] is _HASHING_CALLABLE:
                self._hash(taken[1:], into_all=True)
        elif op.hashes:
            self._hash(taken[0::2] if op.hashes == "keys" else taken)
        return taken

    def _build(self, op: _Opcode) -> None:
        """An opcode that takes its operands off the stack and pushes what it makes of them."""
        taken = self._taken(op)
        if op.name == "STACK_GLOBAL":
            self._stack.append(_HASHING_CALLABLE if taken[1] is _HASHING_NAME else _ATOM)
        elif op.pushes:
            self._stack.append(self._made(taken, op) if taken or op.mutable else _ATOM)

    def _add(self, op: _Opcode) -> None:
        """An opcode that adds its operands to the container below them."""
        taken = self._taken(op)
        container = self._top()
        if container not in _ATOMS:
            container.items += taken
            container.depth = max(container.depth, 1 + max((item.depth for item in taken), default=0))
            if container.depth > MAX_NESTING:
                raise _too_deep()

    def _hash(self, nodes: list[_Node], into_all: bool = False) -> None:
        """Count the items hashing `nodes` would reach, across the whole load: a hash goes into the
        items of tuples (`into_all`: of every container), nowhere else."""
        level, depth = nodes, 0
        while level:
            depth += 1
            if depth > MAX_NESTING:
                raise _too_deep()
            self._hashed += len(level)
            below: list[_Node] = []
            for node in level:
                if not into_all and type(node) is not _Tuple:
                    continue
                below += node.items
                if self._hashed + len(below) > MAX_HASHED:
                    raise UntrustedDataError(
                        f"an unsigned pickle whose loading hashes more than {MAX_HASHED:,} items "
                        "(shared references expanded); refused"
                    )
            level = below


def _unread(code: int) -> Exception:
    info = next((info for info in pickletools.opcodes if ord(info.code) == code), None)
    if info is None:
        return ValueError(f"unknown opcode {code:#x}")
    return UntrustedDataError(
        f"an unsigned pickle using {info.name}, which pickle.dumps of plain values never writes; refused"
    )


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
    return UntrustedDataError(
        f"an unsigned pickle nesting values deeper than {MAX_NESTING:,} (or a value holding itself); refused"
    )


def _plain_bytearray(*args: Any) -> bytearray:
    """bytearray of bytes or text, as pickles of one are; never of a size (a few bytes asking for GiBs)."""
    if args and not isinstance(args[0], (bytes, str)):
        raise UntrustedDataError("an unsigned pickle making a bytearray of a size; refused")
    return bytearray(*args)


def _latin1_bytes(text: Any, encoding: Any) -> bytes:
    """bytes, as protocol 2 writes them: _codecs.encode(text, "latin1"), and nothing else of codecs."""
    if not isinstance(text, str) or encoding != "latin1":
        raise UntrustedDataError("an unsigned pickle calling _codecs.encode other than for bytes; refused")
    return text.encode("latin1")


def _empty_bytes(*args: Any) -> bytes:
    """b"", as protocol 2 writes it: bytes()."""
    if args:
        raise UntrustedDataError("an unsigned pickle calling bytes with arguments; refused")
    return b""


class _PlainUnpickler(pickle.Unpickler):
    """Resolves no global but the plain value types of SAFE_GLOBALS, so loading runs no code."""

    def find_class(self, module: str, name: str) -> Any:
        module, name = _compat_pickle.NAME_MAPPING.get((module, name), (module, name))  # protocol 2's
        module = _compat_pickle.IMPORT_MAPPING.get(module, module)  # names, as Python 2 had them
        if (module, name) == ("builtins", "bytearray"):
            return _plain_bytearray
        if (module, name) == ("_codecs", "encode"):
            return _latin1_bytes
        if (module, name) == ("builtins", "bytes"):
            return _empty_bytes
        if (module, name) in SAFE_GLOBALS:
            return super().find_class(module, name)
        named = shorten(f"{module}.{name}", 80)
        refused = UntrustedDataError(f"an unsigned pickle naming {named}; refused, as loading it runs code")
        refused.named = named
        raise refused

    def persistent_load(self, pid: Any) -> Any:
        raise UntrustedDataError("an unsigned pickle with a persistent id; refused")


__all__ = [
    "MAX_BUILT",
    "MAX_EXPANDED_VALUES",
    "MAX_HASHED",
    "MAX_INT_BYTES",
    "MAX_NESTING",
    "SAFE_GLOBALS",
    "loads",
]
