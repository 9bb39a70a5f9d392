"""Every code block of README.md runs, against the server its text says it runs against.

The component block is saved as app.py, served by the server block's own
command (embedded Redis in the folder's .motion/, then the test Redis in
place of redis://db:6379/0); the client block calls that server; the
in-process and migration blocks run beside the component on the test Redis;
the operator CLI block calls a server of examples/counter.py (its Counter);
make lines are dry-run (running `make test` inside the tests would recurse).
"""

from __future__ import annotations

import pathlib
import re
import subprocess
from collections.abc import Iterator

import pytest

from tests.docs.blocks import Block, blocks, make_dry_run, run_python, served
from tests.helpers import MOTION_GRPC, ROOT, ServerProcess, clean_env, free_port, popen_tied, unique

README = ROOT / "README.md"
#: How each block of the README starts, and the test below that runs it.
KINDS = {
    "make serve": "make",
    "make install": "make",
    "from motion_grpc import Component": "component",
    "from motion_grpc import StateMigrator": "migration",
    ".venv/bin/motion-grpc serve app.py": "server",
    "from motion_grpc import MotionClient": "client",
    "inst = Prompt(": "in_process",
    "motion-grpc call Counter": "operator_cli",
    "# TLS; client certificates required": "security_flags",
}


def kind(block: Block) -> str:
    return next((name for start, name in KINDS.items() if block.text.startswith(start)), "unknown")


#: Blocks of other sections, run here once their sections are in the README.
OPTIONAL = {"operator_cli", "security_flags"}


def of_kind(name: str) -> list[Block]:
    found = [block for block in blocks(README) if kind(block) == name]
    if not found and name in OPTIONAL:
        pytest.skip(f"README.md has no {name} block yet")
    return found


def test_every_block_is_run_here() -> None:
    unknown = [block.line for block in blocks(README) if kind(block) == "unknown"]
    assert not unknown, (
        f"README.md lines {unknown}: code blocks no test runs; add them to tests/docs/test_readme.py"
    )
    assert set(KINDS.values()) - OPTIONAL <= {kind(block) for block in blocks(README)}


def test_security_block_names_real_serve_flags() -> None:
    """The TLS/auth serve command needs certificates: tests/security serves with these flags; here each
    flag it names must be one `motion-grpc serve` has."""
    usage = subprocess.run(
        [MOTION_GRPC, "serve", "--help"], capture_output=True, text=True, check=True
    ).stdout
    flags = re.findall(r"(--[a-z][a-z-]+)", of_kind("security_flags")[0].text)
    assert flags and [flag for flag in flags if flag not in usage] == []


def test_make_lines_name_real_targets() -> None:
    for block in of_kind("make"):
        for line in block.text.splitlines():
            make_dry_run(line.split()[1])


@pytest.fixture(scope="module")
def app_folder(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    folder = tmp_path_factory.mktemp("readme")
    (folder / "app.py").write_text(of_kind("component")[0].text)
    return folder


@pytest.fixture(scope="module")
def app_server(app_folder: pathlib.Path) -> Iterator[str]:
    """The server block's first command, as written but for the port."""
    with served(of_kind("server")[0].text.splitlines()[0], free_port(), app_folder) as target:
        yield target


def test_client_block_against_the_served_app(app_server: str, app_folder: pathlib.Path) -> None:
    code = of_kind("client")[0].text.replace("localhost:50051", app_server)
    output = run_python(code, app_folder)
    assert output.startswith("{'query_summary': '[small model] ...") and output.rstrip().endswith(" 2"), (
        output
    )


def test_server_block_with_a_redis_url(app_folder: pathlib.Path, redis_url: str) -> None:
    command = of_kind("server")[0].text.splitlines()[1]
    with served(command, free_port(), app_folder, **{"redis://db:6379/0": redis_url}) as target:
        code = of_kind("client")[0].text.replace("localhost:50051", target)
        assert run_python(code, app_folder)


def in_process(app_folder: pathlib.Path, redis_url: str, block: str) -> str:
    return run_python(f"from app import *\n{block}", app_folder, MOTION_REDIS_URL=redis_url)


def test_in_process_block(app_folder: pathlib.Path, redis_url: str) -> None:
    in_process(app_folder, redis_url, of_kind("in_process")[0].text)


def test_migration_block(app_folder: pathlib.Path, redis_url: str) -> None:
    code = of_kind("migration")[0].text + "\nassert not failed and results, results\n"
    in_process(
        app_folder, redis_url, 'Prompt("migrated").run("styling_query", props={"event": "x"})\n' + code
    )


@pytest.fixture(scope="module")
def counter_server(redis_url: str) -> Iterator[ServerProcess]:
    with ServerProcess(apps=[str(ROOT / "examples" / "counter.py")], redis_url=redis_url) as server:
        yield server


def test_operator_cli_block(counter_server: ServerProcess) -> None:
    env = clean_env(MOTION_TARGET=counter_server.target)
    user = unique("user")
    lines = [
        re.sub(r"\s*\[[^\]]*\]", "", text.split("#", 1)[0])
        for text in of_kind("operator_cli")[0].text.splitlines()
    ]
    for line in lines:
        argv = [MOTION_GRPC, *line.replace("user42", user).split()[1:]]
        if "'" in line:  # --props '{"n": 2}' / --patch '{"count": 0}': JSON in shell quotes
            head, _, quoted = line.replace("user42", user).partition(" '")
            argv = [MOTION_GRPC, *head.split()[1:], quoted.rstrip("'")]
        if argv[1] == "watch":  # after the block's delete: run again so there is an instance to watch
            subprocess.run(
                [MOTION_GRPC, "call", "Counter", user, "add", "--props", '{"n": 1}'], env=env, check=True
            )
            argv += ["--after", "0-0"]
            with popen_tied(argv, env=env, stdout=subprocess.PIPE, text=True) as watch:
                assert watch.stdout is not None and watch.stdout.readline(), line
                watch.terminate()
            continue
        done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60, check=False)
        assert done.returncode == 0, f"{line}\n{done.stderr}"
