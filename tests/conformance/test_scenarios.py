"""Every scenario of conformance/scenarios.json, replayed with the Python client against a live server.

The format is defined in conformance/README.md; the Node, Go and Java runners
(tests/conformance/test_clients.py) replay the same file with their clients.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import json_format
from google.protobuf.message import Message

from motion_grpc import MotionClient
from motion_grpc._proto.motion.v1 import motion_pb2 as pb
from motion_grpc.client._messages import to_error
from motion_grpc.store import RedisServer
from tests.helpers import ServerProcess

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS_FILE = ROOT / "conformance" / "scenarios.json"
SCENARIOS = json.loads(SCENARIOS_FILE.read_text())
SERVICE = pb.DESCRIPTOR.services_by_name["MotionService"]
CALL_TIMEOUT = 30.0
WATCH_TIMEOUT = 10.0
_VARIABLE = re.compile(r"\$\{(\w+)\}")


@pytest.fixture(scope="module")
def client() -> Iterator[MotionClient]:
    """A Python client of a server of conformance/app.py (and, as for the other clients, the counter)."""
    apps = [str(ROOT / "conformance" / "app.py"), str(ROOT / "examples" / "counter.py")]
    with (
        RedisServer(appendonly=False) as redis,
        ServerProcess(apps=apps, redis_url=redis.url) as server,
        MotionClient(server.target) as motion,
    ):
        yield motion


@dataclass
class Answer:
    """What one step got: the response as proto JSON (or its messages), and the error if any."""

    response: dict[str, Any] = field(default_factory=dict)
    messages: list[dict[str, Any]] = field(default_factory=list)
    code: str = "OK"
    reason: str = ""
    error_type: str | None = None


def test_the_file_is_a_format_this_runner_knows() -> None:
    assert SCENARIOS["format"] == 1
    rpcs = {step["rpc"] for scenario in SCENARIOS["scenarios"] for step in scenario["steps"]}
    assert rpcs == set(SERVICE.methods_by_name), "every RPC is covered, and only real ones"


@pytest.mark.parametrize("scenario", SCENARIOS["scenarios"], ids=lambda scenario: scenario["name"])
def test_scenario(client: MotionClient, scenario: dict[str, Any]) -> None:
    variables: dict[str, Any] = {"instance": f"conf-{uuid.uuid4().hex[:16]}", "request_id": str(uuid.uuid4())}
    for number, step in enumerate(scenario["steps"], 1):
        where = f"{scenario['name']} step {number} ({step['rpc']})"
        answer = _send(client, step, substitute(step["request"], variables))
        check(answer, substitute(step.get("expect", {"code": "OK"}), variables), where)
        saved = {"messages": answer.messages} if answer.messages else answer.response
        for name, path in step.get("save", {}).items():
            variables[name] = at_path(saved, path, where)


def _send(client: MotionClient, step: dict[str, Any], request_json: dict[str, Any]) -> Answer:
    method = SERVICE.methods_by_name[step["rpc"]]
    request = json_format.ParseDict(request_json, getattr(pb, method.input_type.name)())
    rpc = getattr(client.stub, step["rpc"])
    answer = Answer()
    try:
        if step.get("paginate"):
            answer.response = _paginate(rpc, request)
        elif method.server_streaming:
            _collect(rpc, request, step.get("take"), answer.messages)
        else:
            answer.response = _json(rpc(request, timeout=CALL_TIMEOUT))
    except grpc.RpcError as exc:
        error = to_error(exc)  # the client's own mapping: code, reason and error type as it exposes them
        answer.code, answer.reason = error.code.name, error.reason
        answer.error_type = getattr(error, "error_type", None)
    return answer


def _collect(rpc: Any, request: Message, take: int | None, into: list[dict[str, Any]]) -> None:
    """A stream's messages: to its end, or (WatchUpdates) the first `take` events, heartbeats skipped."""
    call = rpc(request, timeout=CALL_TIMEOUT if take is None else WATCH_TIMEOUT)
    try:
        for message in call:
            if take is not None and not message.HasField("event"):
                continue
            into.append(_json(message))
            if take is not None and len(into) == take:
                return
    finally:
        call.cancel()


def _paginate(rpc: Any, request: pb.ListInstancesRequest) -> dict[str, Any]:
    ids: list[str] = []
    pages = 0
    while True:
        reply = rpc(request, timeout=CALL_TIMEOUT)
        pages += 1
        assert not request.page_size or len(reply.instance_ids) <= request.page_size
        ids += reply.instance_ids
        if not reply.next_page_token:
            return {"instanceIds": ids, "pages": pages}
        request.page_token = reply.next_page_token


def _json(message: Message) -> dict[str, Any]:
    return json_format.MessageToDict(message, always_print_fields_with_no_presence=True)


def check(answer: Answer, expect: dict[str, Any], where: str) -> None:
    code = expect.get("code", "OK")
    assert answer.code == code, f"{where}: code {answer.code} ({answer.reason}), expected {code}"
    if "reason" in expect:
        assert answer.reason == expect["reason"], f"{where}: reason {answer.reason!r}"
    for key, value in expect.get("errorMetadata", {}).items():
        assert key == "error_type" and answer.error_type == value, f"{where}: {key} {answer.error_type!r}"
    if "response" in expect:
        match(expect["response"], answer.response, where)
    if "messages" in expect:
        match(expect["messages"], answer.messages, f"{where}: messages")


def substitute(value: Any, variables: dict[str, Any]) -> Any:
    """`value` with each ${name} replaced (a whole-string ${name} by the variable's JSON value)."""
    if isinstance(value, dict):
        return {key: substitute(item, variables) for key, item in value.items()}
    if isinstance(value, list):
        return [substitute(item, variables) for item in value]
    if not isinstance(value, str):
        return value
    whole = _VARIABLE.fullmatch(value)
    if whole:
        return variables[whole.group(1)]
    return _VARIABLE.sub(lambda found: str(variables[found.group(1)]), value)


def at_path(value: Any, path: str, where: str) -> Any:
    for segment in path.split("."):
        try:
            value = value[int(segment)] if isinstance(value, list) else value[segment]
        except (KeyError, IndexError, ValueError) as exc:
            raise AssertionError(f"{where}: nothing at {path!r} to save") from exc
    return value


_DEFAULTS: tuple[Any, ...] = (None, "", 0, False, [], {})


def match(expected: Any, actual: Any, where: str) -> None:
    """The matching rules of conformance/README.md."""
    if expected == "present":
        assert actual not in _DEFAULTS, f"{where}: expected a value, got {actual!r}"
    elif expected == "absent":
        assert actual in _DEFAULTS, f"{where}: expected nothing, got {actual!r}"
    elif isinstance(expected, dict) and len(expected) == 1 and next(iter(expected)).startswith("$"):
        _match_operator(*next(iter(expected.items())), actual, where)
    elif isinstance(expected, dict):
        assert isinstance(actual, dict), f"{where}: expected an object, got {actual!r}"
        for key, item in expected.items():
            match(item, actual.get(key), f"{where}.{key}")
    elif isinstance(expected, list):
        assert isinstance(actual, list) and len(actual) == len(expected), f"{where}: got {actual!r}"
        for index, (want, got) in enumerate(zip(expected, actual)):
            match(want, got, f"{where}.{index}")
    elif isinstance(expected, (int, float)) and not isinstance(expected, bool):
        assert _number(actual) == expected, f"{where}: expected {expected}, got {actual!r}"
    else:
        assert actual == expected, f"{where}: expected {expected!r}, got {actual!r}"


def _match_operator(operator: str, operand: Any, actual: Any, where: str) -> None:
    if operator == "$len":
        assert isinstance(actual, (list, str)) and len(actual) == operand, f"{where}: got {actual!r}"
    elif operator == "$contains":
        assert isinstance(actual, list), f"{where}: expected a list, got {actual!r}"
        for want in operand:
            assert any(_matches(want, got) for got in actual), f"{where}: nothing matches {want!r}"
    elif operator == "$gte":
        assert _number(actual) >= operand, f"{where}: expected >= {operand}, got {actual!r}"
    elif operator == "$exact":
        assert actual == operand, f"{where}: expected exactly {operand!r}, got {actual!r}"
    else:
        raise AssertionError(f"{where}: unknown matcher {operator}")


def _matches(expected: Any, actual: Any) -> bool:
    try:
        match(expected, actual, "")
    except AssertionError:
        return False
    return True


def _number(value: Any) -> float | None:
    """A JSON number, or a 64-bit integer that proto JSON wrote as a string."""
    if isinstance(value, str) and re.fullmatch(r"-?\d+", value):
        return int(value)
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None
