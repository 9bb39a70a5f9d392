"""The operator CLI against a live server: every command, its --json output parsed, its errors."""

from __future__ import annotations

import json
import os
import pty
import subprocess
from typing import Any

import pytest

from motion_grpc import MotionClient
from motion_grpc.cli import build_parser, main
from tests.helpers import MOTION_GRPC, ServerProcess, clean_env, free_port, popen_tied, unique


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Run `motion-grpc ARGV` in this process; its exit status, stdout and stderr."""
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def cli_json(capsys: pytest.CaptureFixture[str], server: ServerProcess, *argv: str, status: int = 0) -> Any:
    code, out, err = cli(capsys, *argv, "--target", server.target, "--json")
    assert code == status, err
    return json.loads(out)


def test_call_prints_the_result_and_queues_the_update(
    capsys: pytest.CaptureFixture[str], server: ServerProcess
) -> None:
    instance = unique("call")
    first = cli_json(capsys, server, "call", "Ledger", instance, "append", "--props", '{"i": 7}')
    assert first["result"] == 0
    assert len(first["update_ids"]) == 1
    flushed = cli_json(capsys, server, "call", "Ledger", instance, "append", "--props", '{"i": 8}', "--flush")
    assert [o["status"] for o in flushed["update_outcomes"]] == ["APPLIED"]
    assert flushed["version"] == 3  # init_state, then both updates in order


def test_call_human_output_shows_result_then_summary(
    capsys: pytest.CaptureFixture[str], server: ServerProcess
) -> None:
    code, out, _ = cli(capsys, "call", "Ledger", unique("human"), "append", "--props", '{"i": 1}',
                       "--target", server.target)  # fmt: skip
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "0"
    assert lines[1].startswith("(version 1") and "1 update(s) queued" in lines[1]


def test_an_awaited_update_that_failed_exits_1(
    capsys: pytest.CaptureFixture[str], server: ServerProcess
) -> None:
    """`call --flush` and `flush` say so in their status, as the README's "exit 1: refused or failed"."""
    instance = unique("failing")
    code, out, _ = cli(capsys, "call", "Faulty", instance, "go", "--props", '{"fail_update": true}',
                       "--flush", "--target", server.target)  # fmt: skip
    assert code == 1 and "KeyError" in out
    assert "1 update(s) ended" in out and "applied" not in out
    cli(capsys, "call", "Faulty", instance, "go", "--props", '{"fail_update": true, "sleep": 0.3}',
        "--target", server.target)  # fmt: skip
    code, out, _ = cli(capsys, "flush", "Faulty", instance, "--target", server.target)
    assert code == 1 and "1 failed" in out
    code, _, _ = cli(capsys, "call", "Faulty", instance, "go", "--flush", "--target", server.target)
    assert code == 0


def test_commands_wait_past_5_s_unless_told_otherwise(
    capsys: pytest.CaptureFixture[str], server: ServerProcess
) -> None:
    """Only `health` has a deadline of its own (5 s): --timeout is shared by every command."""
    instance = unique("long")
    cli(capsys, "call", "Faulty", instance, "go", "--props", '{"sleep": 6}', "--target", server.target)
    code, _, err = cli(capsys, "flush", "Faulty", instance, "--target", server.target)
    assert code == 0, err
    for command in (["flush", "C", "i"], ["watch", "C", "i"], ["state", "C", "i"], ["describe"]):
        assert build_parser().parse_args(command).timeout is None
    assert build_parser().parse_args(["health", "--timeout", "2"]).timeout == 2.0


def test_state_and_version_come_from_one_read(
    capsys: pytest.CaptureFixture[str], server: ServerProcess, client: MotionClient
) -> None:
    handle = client.instance("Ledger", unique("state"))
    handle.run("append", {"i": 1}, flush_update=True)
    answer = cli_json(capsys, server, "state", "Ledger", handle.instance_id)
    assert answer == {"state": {"items": [1]}, "version": 2}
    only = cli_json(capsys, server, "state", "Ledger", handle.instance_id, "--key", "items")
    assert only["state"] == {"items": [1]}


def test_flush_waits_and_reports_failed_updates(
    capsys: pytest.CaptureFixture[str], server: ServerProcess, client: MotionClient
) -> None:
    handle = client.instance("Faulty", unique("flush"))
    handle.run("go", {"sleep": 0.2})
    handle.run("go", {"fail_update": True})
    answer = cli_json(capsys, server, "flush", "Faulty", handle.instance_id, "--timeout", "30", status=1)
    assert answer["version"] == 2  # the first update applied; the failing one changed nothing
    assert [(f["status"], f["error_type"]) for f in answer["failed"]] == [("FAILED", "KeyError")]


def test_write_state_then_delete(
    capsys: pytest.CaptureFixture[str], server: ServerProcess, client: MotionClient
) -> None:
    handle = client.instance("Ledger", unique("write"))
    handle.run("append", {"i": 1}, flush_update=True)
    written = cli_json(
        capsys, server, "write-state", "Ledger", handle.instance_id, "--patch", '{"items": [9]}'
    )
    assert written == {"version": 3}
    assert handle.get_state() == {"items": [9]}
    assert cli_json(capsys, server, "delete", "Ledger", handle.instance_id) == {"deleted": True}
    assert cli_json(capsys, server, "delete", "Ledger", handle.instance_id) == {"deleted": False}


def test_list_pages_through_every_instance(
    capsys: pytest.CaptureFixture[str], server: ServerProcess, client: MotionClient
) -> None:
    made = {unique("list") for _ in range(5)}
    for instance in made:
        client.instance("Slow", instance).run("bump")
    listed = cli_json(capsys, server, "list", "Slow", "--page-size", "2")
    assert made <= set(listed)


def test_describe_names_flows_and_ops(capsys: pytest.CaptureFixture[str], server: ServerProcess) -> None:
    components = cli_json(capsys, server, "describe", "Ledger")
    assert [c["name"] for c in components] == ["Ledger"]
    assert components[0]["flows"][0]["key"] == "append"
    code, out, _ = cli(capsys, "describe", "Ledger", "--target", server.target)
    assert code == 0
    assert "flow append: serve ledger_size; updates ledger_append" in out


def test_watch_prints_events_as_json_lines(server: ServerProcess, client: MotionClient) -> None:
    handle = client.instance("Ledger", unique("watch"))
    handle.run("append", {"i": 0}, flush_update=True)
    command = [MOTION_GRPC, "watch", "Ledger", handle.instance_id, "--target", server.target,
               "--after", "0-0", "--json"]  # fmt: skip
    with popen_tied(command, stdout=subprocess.PIPE, text=True, env=clean_env()) as process:
        try:
            assert process.stdout is not None
            lines = [json.loads(process.stdout.readline()) for _ in range(3)]
        finally:
            process.terminate()
    assert [line["status"] for line in lines] == ["QUEUED", "RUNNING", "APPLIED"]
    assert lines[-1]["version"] == 2


def test_health_is_serving(capsys: pytest.CaptureFixture[str], server: ServerProcess) -> None:
    assert cli_json(capsys, server, "health") == {"status": "SERVING"}


def test_unreachable_server_is_exit_1_naming_the_target(capsys: pytest.CaptureFixture[str]) -> None:
    target = f"127.0.0.1:{free_port()}"
    code, out, err = cli(capsys, "state", "Ledger", "x", "--target", target, "--timeout", "2", "--json")
    assert (code, out) == (1, "")
    error = json.loads(err)["error"]
    assert error["code"] == "UNAVAILABLE"
    assert target in error["message"]


def test_errors_say_what_to_fix(capsys: pytest.CaptureFixture[str], server: ServerProcess) -> None:
    code, _, err = cli(
        capsys, "call", "Ledger", "x", "append", "--props", "{i: 1}", "--target", server.target
    )
    assert code == 2  # bad usage: nothing was sent
    assert "--props is not JSON" in err and "give an object such as" in err
    code, _, err = cli(capsys, "describe", "Nope", "--target", server.target)
    assert code == 1 and "no component named Nope" in err
    code, _, err = cli(capsys, "call", "Nope", "x", "go", "--target", server.target, "--json")
    assert code == 1
    assert json.loads(err)["error"]["code"] == "NOT_FOUND"
    code, _, err = cli(capsys, "state", "Ledger", "x", "--client-cert", "c.pem", "--target", server.target)
    assert code == 1
    assert "--client-cert and --client-key go together" in err


def _flush_stderr(server: ServerProcess, instance: str, stderr: int) -> int:
    command = [MOTION_GRPC, "flush", "Slow", instance, "--target", server.target]
    return subprocess.run(
        command, stderr=stderr, stdout=subprocess.DEVNULL, env=clean_env(), check=False
    ).returncode


def test_flush_progress_shows_on_a_terminal_only(server: ServerProcess, client: MotionClient) -> None:
    handle = client.instance("Slow", unique("progress"))
    handle.run("bump", {"sleep": 1.0})
    leader, follower = pty.openpty()
    try:
        assert _flush_stderr(server, handle.instance_id, follower) == 0
        shown = os.read(leader, 65536).decode()
    finally:
        os.close(leader)
        os.close(follower)
    assert f"waiting for the updates of Slow/{handle.instance_id}..." in shown
    handle.run("bump", {"sleep": 0.5})
    piped = subprocess.run(
        [MOTION_GRPC, "flush", "Slow", handle.instance_id, "--target", server.target],
        capture_output=True, text=True, env=clean_env(), check=False,
    )  # fmt: skip
    assert (piped.returncode, piped.stderr) == (0, "")


def test_api_key_from_the_environment_or_the_flag(
    capsys: pytest.CaptureFixture[str], redis_url: str, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    keys = tmp_path / "keys"
    keys.write_text("admin cli-test-key-0123456789\n")
    with ServerProcess(redis_url=redis_url, args=["--api-key-file", str(keys)]) as server:
        code, _, err = cli(capsys, "list", "Ledger", "--target", server.target, "--json")
        assert code == 1
        assert json.loads(err)["error"]["code"] == "UNAUTHENTICATED"
        code, _, err = cli(
            capsys, "list", "Ledger", "--api-key", "cli-test-key-0123456789", "--target", server.target
        )
        assert code == 0, err
        monkeypatch.setenv("MOTION_API_KEY", "cli-test-key-0123456789")
        assert isinstance(cli_json(capsys, server, "list", "Ledger"), list)
        assert cli_json(capsys, server, "health") == {"status": "SERVING"}  # health stays open
