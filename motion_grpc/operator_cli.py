"""Operator commands over the Python client: call, state, flush, write-state, delete, list, describe,
watch and health.

Each prints short human lines by default and one JSON document with `--json`
(errors too, on stderr), so one command serves a person at a shell and a
script. Exit status: 0 done, 1 the server refused or failed (or health is not
SERVING), 2 bad arguments (argparse's own).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, TextIO

import grpc
from google.protobuf.json_format import MessageToDict
from grpc_health.v1 import health_pb2, health_pb2_grpc

from motion_grpc._proto.motion.v1 import motion_pb2 as pb
from motion_grpc.client import RunOutcome
from motion_grpc.client._messages import rpc_errors, state_of
from motion_grpc.errors import InvalidArgumentError, MotionError, NotFoundError, UnavailableError, error_for
from motion_grpc.logs import excerpt
from motion_grpc.operator_io import Output, channel_credentials, connect, read_file, tls_options

DEFAULT_TARGET = "127.0.0.1:50051"
#: Seconds `health` waits for its answer unless --timeout says otherwise (a probe must not hang).
HEALTH_TIMEOUT = 5.0
_STATUS_PREFIX = "UPDATE_STATUS_"

Command = Callable[[argparse.Namespace, "Output"], int]


def run_operator(args: argparse.Namespace) -> int:
    """Run the operator command the parser chose; a refused call is a message and exit status 1."""
    output = Output(args.json)
    try:
        return int(args.operator(args, output))
    except BadUsageError as error:  # nothing was sent: the command line is to fix
        output.failed(args.command, error)
        return 2
    except MotionError as error:
        hint = f" (is a server listening on {args.target}?)" if _unreachable(error) else ""
        return output.failed(args.command, error, hint)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `motion-grpc watch ... | head`: the reader has all it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # (Python flushes stdout at exit)
        return 0


class BadUsageError(InvalidArgumentError):
    """A flag's value the command refuses before calling anything (exit status 2, bad usage)."""


def _unreachable(error: MotionError) -> bool:
    """Whether no server answered (not a server that answered UNAVAILABLE: Redis is down, say)."""
    return type(error) is UnavailableError and not error.reason


def json_object(text: str | None, option: str) -> dict[str, Any]:
    """The JSON object given to `option`: inline, `@FILE`, or `-` for stdin."""
    if text is None:
        return {}
    if text == "-":
        text = sys.stdin.read()
    elif text.startswith("@"):
        text = (read_file(text[1:], option) or b"").decode("utf-8", "replace")
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadUsageError(
            f"{option} is not JSON ({exc.msg} at character {exc.pos}): {excerpt(text)}; "
            f"""give an object such as {option} '{{"n": 1}}'"""
        ) from exc
    if not isinstance(value, dict):
        raise BadUsageError(f"{option} must be a JSON object, not {type(value).__name__}")
    return value


def _pretty(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, indent=2, sort_keys=True)


def outcome_dict(outcome: pb.UpdateOutcome) -> dict[str, Any]:
    status = pb.UpdateStatus.Name(outcome.status).removeprefix(_STATUS_PREFIX)
    return {
        "update_id": outcome.update_id,
        "flow": outcome.flow,
        "op": outcome.op,
        "status": status,
        "error_type": outcome.error_type,
        "error_message": outcome.error_message,
    }


def _outcome_lines(outcomes: list[pb.UpdateOutcome]) -> list[str]:
    lines = []
    for outcome in map(outcome_dict, outcomes):
        error = f": {outcome['error_type']}: {outcome['error_message']}" if outcome["error_type"] else ""
        lines.append(f"  {outcome['status']} {outcome['update_id']} {outcome['flow']}/{outcome['op']}{error}")
    return lines


def _run_dict(outcome: RunOutcome) -> dict[str, Any]:
    return {
        "result": outcome.result,
        "version": outcome.version,
        "cached": outcome.cached,
        "update_ids": outcome.update_ids,
        "update_outcomes": [outcome_dict(o) for o in outcome.update_outcomes],
    }


def _call(args: argparse.Namespace, output: Output) -> int:
    props = json_object(args.props, "--props")
    with connect(args) as client:
        outcome = client.instance(args.component, args.instance).run_outcome(
            args.flow,
            props,
            ignore_cache=args.ignore_cache,
            force_refresh=args.force_refresh,
            flush_update=args.flush,
            timeout=args.timeout,
        )
    summary = f"(version {outcome.version}{', cached' if outcome.cached else ''}; "
    summary += f"{len(outcome.update_ids)} update(s) {'ended' if args.flush else 'queued'})"
    lines = [_pretty(outcome.result), summary, *_outcome_lines(outcome.update_outcomes)]
    output.emit("\n".join(lines), _run_dict(outcome))
    return _status(outcome.update_outcomes)


def _state(args: argparse.Namespace, output: Output) -> int:
    """State and version from one GetState, so the two always belong together."""
    with connect(args) as client:
        handle = client.instance(args.component, args.instance)
        request = pb.GetStateRequest(instance=handle.ref, keys=args.keys or [])
        with rpc_errors:
            reply = client.stub.GetState(request, timeout=args.timeout)
        state = state_of(reply, False)
    human = f"{_pretty(state)}\n(version {reply.version})"
    output.emit(human, {"state": state, "version": int(reply.version)})
    return 0


def _flush(args: argparse.Namespace, output: Output) -> int:
    name = f"{args.component}/{args.instance}"
    with connect(args) as client, FlushProgress(f"waiting for the updates of {name}", output.err):
        outcome = client.instance(args.component, args.instance).flush(args.flow, timeout=args.timeout)
    failed = [outcome_dict(o) for o in outcome.failed]
    summary = f"updates of {name} done: version {outcome.version}, {len(failed)} failed or discarded"
    human = "\n".join([summary, *_outcome_lines(outcome.failed)])
    output.emit(human, {"version": outcome.version, "failed": failed})
    return _status(outcome.failed)


def _status(outcomes: Sequence[pb.UpdateOutcome]) -> int:
    """The exit status: 1 when an update awaited failed (a discarded one did not), else 0."""
    return 1 if any(event.status == pb.UPDATE_STATUS_FAILED for event in outcomes) else 0


def _write_state(args: argparse.Namespace, output: Output) -> int:
    patch = json_object(args.patch, "--patch")
    with connect(args) as client:
        version = client.instance(args.component, args.instance).write_state(patch, timeout=args.timeout)
    output.emit(f"wrote {', '.join(sorted(patch)) or 'nothing'}: version {version}", {"version": version})
    return 0


def _delete(args: argparse.Namespace, output: Output) -> int:
    with connect(args) as client:
        deleted = client.instance(args.component, args.instance).delete(timeout=args.timeout)
    name = f"{args.component}/{args.instance}"
    output.emit(f"deleted {name}" if deleted else f"{name} did not exist", {"deleted": deleted})
    return 0


def _list(args: argparse.Namespace, output: Output) -> int:
    with connect(args) as client:
        ids = list(client.list_instances(args.component, page_size=args.page_size))
    output.emit("\n".join(ids) if ids else f"({args.component} has no instances)", ids)
    return 0


def _describe(args: argparse.Namespace, output: Output) -> int:
    with connect(args) as client, rpc_errors:
        reply = client.stub.DescribeComponents(pb.DescribeComponentsRequest(), timeout=args.timeout)
    components = [c for c in reply.components if not args.component or c.name in args.component]
    missing = sorted(set(args.component or ()) - {c.name for c in components})
    if missing:
        hosted = ", ".join(c.name for c in reply.components) or "none"
        raise NotFoundError(f"no component named {', '.join(missing)} here (hosted: {hosted})")
    data = [MessageToDict(c, preserving_proto_field_name=True) for c in components]
    output.emit("\n".join(line for c in components for line in _component_lines(c)), data)
    return 0


def _component_lines(component: pb.ComponentInfo) -> list[str]:
    params = json.dumps(MessageToDict(component.params), sort_keys=True)
    lines = [f"{component.name} (cache_ttl {component.cache_ttl:g} s, params {params})"]
    for flow in component.flows:
        kind = "generator " if flow.serve_is_generator else ""
        updates = ", ".join(_update_op_text(op) for op in flow.update_ops) or "none"
        lines.append(f"  flow {flow.key}: serve {kind}{flow.serve_op}; updates {updates}")
    return lines


def _update_op_text(op: pb.UpdateOpInfo) -> str:
    policy = pb.DiscardPolicy.Name(op.discard_policy).removeprefix("DISCARD_POLICY_")
    text = op.name
    if op.discard_after:
        text += f" (discard {policy} after {op.discard_after:g})"
    if op.batch_size > 1:
        text += f" (batches of {op.batch_size})"
    return text


def _health(args: argparse.Namespace, output: Output) -> int:
    """The gRPC health service's answer; exit 0 only for SERVING (a container HEALTHCHECK)."""
    channel = _open_channel(args)
    try:
        stub = health_pb2_grpc.HealthStub(channel)
        request = health_pb2.HealthCheckRequest(service=args.service)
        try:
            reply = stub.Check(request, timeout=HEALTH_TIMEOUT if args.timeout is None else args.timeout)
        except grpc.RpcError as exc:
            raise error_for(exc.code(), exc.details() or str(exc.code())) from None
    finally:
        channel.close()
    status = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
    output.emit(status, {"status": status})
    return 0 if reply.status == health_pb2.HealthCheckResponse.SERVING else 1


def _open_channel(args: argparse.Namespace) -> grpc.Channel:
    credentials = channel_credentials(args)
    if credentials is None:
        return grpc.insecure_channel(args.target)
    return grpc.secure_channel(args.target, credentials, options=tls_options(args))


class FlushProgress:
    """A live 'waiting ... 3.2 s' line on stderr while a flush waits, only when stderr is a terminal."""

    def __init__(self, label: str, stream: TextIO, interval: float = 0.1) -> None:
        self._label = label
        self._stream = stream
        self._interval = interval
        self._done = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> FlushProgress:
        if self._stream.isatty():
            self._thread = threading.Thread(target=self._draw, name="flush-progress", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        if self._thread is not None:
            self._thread.join()
            self._stream.write("\r\033[K")
            self._stream.flush()

    def _draw(self) -> None:
        started = time.monotonic()
        spinner = "|/-\\"
        tick = 0
        while True:
            elapsed = time.monotonic() - started
            self._stream.write(f"\r{spinner[tick % 4]} {self._label}... {elapsed:.1f} s")
            self._stream.flush()
            tick += 1
            if self._done.wait(self._interval):
                return


def _run_watch(args: argparse.Namespace, output: Output) -> int:
    from motion_grpc.watch_cli import run_watch

    return run_watch(args, output)


def _connection_options() -> argparse.ArgumentParser:
    """The options every operator command shares: where the server is, how to reach it, output form."""
    common = argparse.ArgumentParser(add_help=False)
    env = os.environ.get
    add = common.add_argument
    add(
        "--target", default=env("MOTION_TARGET", DEFAULT_TARGET), help=f"host:port (default {DEFAULT_TARGET})"
    )
    add("--tls", action="store_true", default=bool(env("MOTION_CLI_TLS")), help="TLS, system root certs")
    add("--ca-cert", default=env("MOTION_CLI_CA_CERT"), metavar="PEM", help="CA to verify the server; TLS")
    add("--client-cert", default=env("MOTION_CLI_CERT"), metavar="PEM", help="client cert (mutual TLS)")
    add("--client-key", default=env("MOTION_CLI_KEY"), metavar="PEM", help="client key (mutual TLS)")
    add("--server-name", default=env("MOTION_CLI_SERVER_NAME"), help="name the server cert must carry")
    add("--api-key", default=env("MOTION_API_KEY"), help="API key (prefer MOTION_API_KEY: argv is visible)")
    add("--token", default=env("MOTION_TOKEN"), help="instance token (prefer MOTION_TOKEN)")
    add(
        "--timeout",
        type=float,
        default=None,
        metavar="SECONDS",
        help="deadline of the call (default none; health: 5 s)",
    )
    add("--json", action="store_true", help="print one JSON document, for scripts")
    add("--log-level", default=env("MOTION_LOG_LEVEL", "WARNING"))
    return common


def _instance_parser(
    commands: Any, name: str, run: Command, common: argparse.ArgumentParser, help_text: str
) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = commands.add_parser(name, parents=[common], help=help_text)
    parser.add_argument("component", metavar="COMPONENT")
    parser.add_argument("instance", metavar="INSTANCE")
    parser.set_defaults(operator=run)
    return parser


def add_operator_parsers(commands: Any) -> None:
    """Register every operator command on the `motion-grpc` sub-command table."""
    common = _connection_options()
    call = _instance_parser(commands, "call", _call, common, "run a flow and print its serve result")
    call.add_argument("flow", metavar="FLOW")
    call.add_argument(
        "--props", default=None, metavar="JSON", help="props: a JSON object, @FILE or - (stdin)"
    )
    call.add_argument("--flush", action="store_true", help="wait for this run's updates (flush_update)")
    call.add_argument("--ignore-cache", action="store_true", help="compute afresh, bypassing the cache")
    call.add_argument("--force-refresh", action="store_true", help="apply queued updates before serving")
    state = _instance_parser(commands, "state", _state, common, "print an instance's state and version")
    state.add_argument(
        "--key", action="append", dest="keys", metavar="KEY", help="only this key (repeatable)"
    )
    flush = _instance_parser(commands, "flush", _flush, common, "wait until queued updates are applied")
    flush.add_argument("--flow", default=None, help="only this flow's updates")
    write = _instance_parser(commands, "write-state", _write_state, common, "patch state keys (admin)")
    write.add_argument(
        "--patch", required=True, metavar="JSON", help="keys to set: a JSON object, @FILE or -"
    )
    _instance_parser(commands, "delete", _delete, common, "delete an instance: state, queue, events")
    listing = commands.add_parser("list", parents=[common], help="print a component's instance ids")
    listing.add_argument("component", metavar="COMPONENT")
    listing.add_argument("--page-size", type=int, default=500, help="ids fetched per call")
    listing.set_defaults(operator=_list)
    describe = commands.add_parser("describe", parents=[common], help="print the hosted components")
    describe.add_argument("component", nargs="*", metavar="COMPONENT", help="only these (default: all)")
    describe.set_defaults(operator=_describe)
    _add_watch_parser(commands, common)
    _add_health_parser(commands, common)


def _add_watch_parser(commands: Any, common: argparse.ArgumentParser) -> None:
    watch = _instance_parser(commands, "watch", _run_watch, common, "print an instance's update events")
    watch.add_argument("--after", default=None, metavar="EVENT_ID", help="resume after this event id")
    watch.add_argument(
        "--flow", action="append", dest="flows", metavar="FLOW", help="only this flow (repeatable)"
    )
    watch.add_argument("--include-state", action="store_true", help="add the state to APPLIED events")
    watch.add_argument("--create", action="store_true", help="create the instance if it does not exist")
    watch.add_argument("--progress", action="store_true", help="print heartbeats too")


def _add_health_parser(commands: Any, common: argparse.ArgumentParser) -> None:
    health = commands.add_parser(
        "health", parents=[common], help="ask the gRPC health service; exit 0 only when SERVING"
    )
    health.add_argument("--service", default="", help="service name to check (default: the server)")
    # (not set_defaults(timeout=...): --timeout is one action shared by every command's parser)
    health.set_defaults(operator=_health)
