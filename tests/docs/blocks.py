"""Fenced code blocks of a Markdown file, and running the shell and Python ones the docs show."""

from __future__ import annotations

import os
import pathlib
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import grpc

from tests.helpers import MOTION_GRPC, ROOT, clean_env, popen_tied

_FENCE = re.compile(r"^( *)```(\w*)\n(.*?)^\1```", re.MULTILINE | re.DOTALL)


@dataclass(frozen=True)
class Block:
    """One fenced block: its language, its text (indent removed) and the line it starts on."""

    language: str
    text: str
    line: int


def blocks(path: pathlib.Path) -> list[Block]:
    markdown = path.read_text(encoding="utf-8")
    found = []
    for match in _FENCE.finditer(markdown):
        indent = len(match.group(1))
        text = "".join(line[indent:] for line in match.group(3).splitlines(keepends=True))
        found.append(Block(match.group(2), text, markdown.count("\n", 0, match.start()) + 1))
    return found


def run_python(code: str, cwd: pathlib.Path, **env: str) -> str:
    """Run `code` as a script in `cwd` with the test environment; its output."""
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, env=clean_env(**env), capture_output=True, text=True,
        timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, f"{code}\n---\n{done.stderr}"
    return done.stdout


def make_dry_run(target: str) -> None:
    """`make -n TARGET`: the target exists and its recipe expands (a real `make test` here would recurse)."""
    done = subprocess.run(
        ["make", "-n", "-o", ".venv/.installed", target],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr


@contextmanager
def served(command: str, port: int, cwd: pathlib.Path, **replace: str) -> Iterator[str]:
    """A `motion-grpc serve` command as the docs write it, on `port`, until the block ends; its target."""
    for old, new in {".venv/bin/motion-grpc": MOTION_GRPC, **replace}.items():
        command = command.replace(old, new)
    argv = re.sub(r" --port \d+", "", command.split("#", 1)[0]).split()  # the docs' port may be taken here
    argv += ["--host", "127.0.0.1", "--port", str(port)]
    process = popen_tied(argv, cwd=cwd, env=clean_env(), start_new_session=True)
    target = f"127.0.0.1:{port}"
    try:
        channel = grpc.insecure_channel(target)
        grpc.channel_ready_future(channel).result(timeout=30)
        channel.close()
        yield target
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(30)
