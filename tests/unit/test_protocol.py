"""The Lua scripts and store/protocol.py name the same codes, statuses, fields and sizes.

The scripts spell the protocol out as Lua literals; these tests read the
script sources and compare each literal with protocol.py, so a change on one
side alone fails here.
"""

from __future__ import annotations

import re

import pytest

from motion_grpc.store import protocol, scripts
from motion_grpc.store.records import CommitRecord, Entry, commit_args, parse_event, take_args

SCRIPTS = {name: getattr(scripts, name) for name in protocol.REPLY_CODES}


def _split_args(text: str, start: int) -> list[str]:
    """The comma-separated arguments of a call whose '(' is just before `start`."""
    args, depth, quote, current = [], 0, "", ""
    for char in text[start:]:
        if quote:
            quote = "" if char == quote and not current.endswith("\\") else quote
        elif char in "'\"":
            quote = char
        elif char in "({":
            depth += 1
        elif char in ")}":
            if depth == 0:
                return [*args, current.strip()]
            depth -= 1
        elif char == "," and depth == 0:
            args.append(current.strip())
            current = ""
            continue
        current += char
    raise AssertionError(f"unclosed call at {text[start - 20 : start + 40]!r}")


def calls(source: str, function: str) -> list[list[str]]:
    """The argument lists of every call of `function` (not its definition) in a script."""
    pattern = re.compile(rf"(?<!function ){re.escape(function)}\(")
    return [_split_args(source, match.end()) for match in pattern.finditer(source)]


def redis_calls(source: str, command: str) -> list[list[str]]:
    """The arguments (after the command name) of every redis.call of `command`."""
    return [args[1:] for args in calls(source, "redis.call") if args[0] == f"'{command}'"]


def literal(arg: str) -> str | None:
    match = re.fullmatch(r"'([^']*)'", arg)
    return match.group(1) if match else None


def reply_codes(source: str) -> set[int]:
    """The numbers a script returns: `return -3`, `return {-8}`, or a table it builds and returns."""
    codes = {int(code) for code in re.findall(r"\breturn\s+(?:answer\()?\{?\s*(-?\d+)\b", source)}
    for name, code in re.findall(r"\blocal (\w+) = \{(-?\d+)\s*,", source):
        if re.search(rf"\breturn (?:answer\()?{name}\b", source):
            codes.add(int(code))
    return codes


def test_every_script_is_described_by_the_protocol() -> None:
    defined = {
        name
        for name, value in vars(scripts).items()
        if name.isupper() and isinstance(value, str) and "redis.call" in value and not name.startswith("_")
    }
    assert defined == set(protocol.REPLY_CODES)


@pytest.mark.parametrize("name", sorted(protocol.REPLY_CODES))
def test_each_script_returns_the_reply_codes_the_protocol_names(name: str) -> None:
    assert reply_codes(SCRIPTS[name]) == protocol.REPLY_CODES[name]


def test_events_carry_the_protocol_statuses() -> None:
    def statuses(source: str) -> set[str]:
        return {args[5] for args in calls(source, "add_event")}

    assert statuses(scripts.ENQUEUE) == {str(protocol.QUEUED)}
    assert statuses(scripts.TAKE) == {str(protocol.RUNNING), str(protocol.DISCARDED)}
    assert statuses(scripts.COMMIT) == {"ARGV[i + 3]"}  # as Python sends it (APPLIED, FAILED)
    assert protocol.EVENT_STATUSES == (1, 2, 3, 4, 5)  # motion.v1.UpdateStatus, on the wire too


def test_events_are_written_with_the_protocol_field_names() -> None:
    [add] = [args for args in redis_calls(scripts.ENQUEUE, "XADD") if args[0] == "events"]  # add_event's
    fields = add[add.index("'*'") + 1 :]
    assert tuple(literal(name) for name in fields[::2]) == protocol.EVENT_FIELDS
    for name in ("ENQUEUE", "TAKE", "COMMIT"):  # one argument per field, after (events, maxlen)
        assert {len(args) for args in calls(SCRIPTS[name], "add_event")} == {len(protocol.EVENT_FIELDS) + 2}


def test_parse_event_reads_the_protocol_field_names() -> None:
    values = dict(
        zip(protocol.EVENT_FIELDS, [b"1-0", b"f", b"o", b"3", b"7", b"10", b"11", b"2", b"E", b"m"])
    )
    event = parse_event(b"5-0", {name.encode(): value for name, value in values.items()})
    assert (event.id, event.update_id, event.flow, event.op) == ("5-0", "1-0", "f", "o")
    assert (event.status, event.version, event.enqueued_ms, event.at_ms, event.attempt) == (3, 7, 10, 11, 2)
    assert (event.error_type, event.error_message) == ("E", "m")


def test_entries_are_written_and_read_with_the_protocol_field_names() -> None:
    [entry] = [args for args in redis_calls(scripts.ENQUEUE, "XADD") if args[0] == "KEYS[2]"]
    fields = entry[entry.index("'*'") + 1 :]
    assert tuple(literal(name) for name in fields[::2]) == protocol.ENTRY_FIELDS
    # TAKE reads an entry's values by position: the value of field i is at 2 * (i + 1).
    read = re.search(r"local flow, op, payload, enqueued, seq = (.*)\n", scripts.TAKE)
    assert read is not None
    positions = [int(index) for index in re.findall(r"f\[(\d+)\]", read.group(1))]
    assert positions == [2 * (i + 1) for i in range(len(protocol.ENTRY_FIELDS))]


def _meta_fields(source: str) -> tuple[set[str], set[str]]:
    """Literal hash field names (and literal prefixes of built ones) a script reads or writes."""
    names: set[str] = set()
    prefixes: set[str] = set()
    for command in ("HGET", "HSET", "HEXISTS", "HMGET", "HINCRBY", "HDEL"):
        for args in redis_calls(source, command):
            fields = (
                args[1::2] if command == "HSET" else args[1:] if command in ("HMGET", "HDEL") else args[1:2]
            )
            for field in fields:
                prefix = re.fullmatch(r"'([^']*)'\s*\.\..*", field)
                if prefix:
                    prefixes.add(prefix.group(1))
                elif literal(field) is not None:
                    names.add(literal(field) or "")
    return names, prefixes


def test_the_meta_hash_fields_are_the_protocol_ones() -> None:
    names: set[str] = set()
    prefixes: set[str] = set()
    for source in SCRIPTS.values():
        found_names, found_prefixes = _meta_fields(source)
        names |= found_names
        prefixes |= found_prefixes
    assert names == protocol.META_FIELDS
    assert prefixes == protocol.META_PREFIXES
    assert protocol.last_queued_field("chat") == "lastq:chat"


def test_discard_kinds_and_reasons_are_the_protocol_ones() -> None:
    branches = re.findall(r"policy\[1\] == (\d+)\b.*?reason = '(\w+)'", scripts.TAKE, re.DOTALL)
    assert {int(kind): reason for kind, reason in branches} == dict(protocol.DISCARD_REASONS)
    assert protocol.DISCARD_NONE not in protocol.DISCARD_REASONS


def test_take_pages_through_the_queue_by_the_protocol_sizes() -> None:
    limits = {int(n) for n in re.findall(r"\bscanned [<>]=? (\d+)", scripts.TAKE)}
    assert limits == {protocol.TAKE_SCAN_LIMIT}
    [read] = [args for args in redis_calls(scripts.TAKE, "XRANGE") if "'COUNT'" in args]
    assert int(read[read.index("'COUNT'") + 1]) == protocol.TAKE_READ_BATCH


def test_the_serve_cache_is_capped_at_the_protocol_size() -> None:
    assert [int(n) for n in re.findall(r"'HLEN', KEYS\[4\]\) >= (\d+)", scripts.ENQUEUE)] == [
        protocol.CACHE_MAX_ENTRIES
    ]


def test_yes_no_and_unset_arguments_are_the_protocol_ones() -> None:
    compared = set()
    for source in SCRIPTS.values():
        compared |= set(re.findall(r"ARGV\[[^\]]+\] [=~]= '([^']*)'", source))
    assert compared == {protocol.YES, protocol.UNSET}
    assert take_args("t", 1, 1, [], may_acquire=True, group_max=1)[4] == protocol.YES
    record = CommitRecord(Entry("1-0", "f", "o", b"", 0, 1), protocol.APPLIED, changed=False)
    assert commit_args("t", 1, 1, "e", {}, [record])[-1] == protocol.NO
