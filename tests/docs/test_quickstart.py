"""Every code block of docs/quickstart.md runs as the page says, against the server it starts."""

from __future__ import annotations

import pathlib
import shutil
import subprocess
from collections.abc import Iterator

import pytest

from tests.docs.blocks import Block, blocks, make_dry_run, run_python, served
from tests.helpers import ROOT, free_port

PAGE = ROOT / "docs" / "quickstart.md"
PAGE_PORT = "localhost:50052"


def page_blocks() -> list[Block]:
    return blocks(PAGE)


def test_every_block_is_one_this_test_runs() -> None:
    kinds = [(b.language, b.text.splitlines()[0][:12]) for b in page_blocks()]
    assert kinds == [
        ("bash", "make serve  "),
        ("python", "# first.py"),
        ("bash", ".venv/bin/mo"),
        ("python", "from motion_"),
        ("text", "Hello Ada! B"),
        ("bash", "grpcurl -pla"),
        ("python", "from first i"),
    ], "a block was added to or changed in docs/quickstart.md: run it in this test too"


def test_the_readme_commands_exist() -> None:
    for line in page_blocks()[0].text.splitlines():
        make_dry_run(line.split()[1])


@pytest.fixture(scope="module")
def quickstart(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[pathlib.Path, str]]:
    """first.py saved in a fresh folder, served by the page's command (embedded Redis in .motion/)."""
    folder = tmp_path_factory.mktemp("quickstart")
    _, first, serve, *_ = page_blocks()
    (folder / "first.py").write_text(first.text)
    with served(serve.text, free_port(), folder) as target:
        yield folder, target


def test_first_flow_prints_what_the_page_shows(quickstart: tuple[pathlib.Path, str]) -> None:
    folder, target = quickstart
    client, expected = page_blocks()[3], page_blocks()[4]
    assert run_python(client.text.replace(PAGE_PORT, target), folder) == expected.text


def test_grpcurl_call(quickstart: tuple[pathlib.Path, str]) -> None:
    grpcurl = shutil.which("grpcurl")
    if grpcurl is None:
        pytest.skip("grpcurl is not installed (.ci/run installs it)")
    folder, target = quickstart
    argv = page_blocks()[5].text.replace(PAGE_PORT, target).replace("grpcurl", grpcurl, 1)
    done = subprocess.run(
        argv, shell=True, cwd=folder, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0 and "Hello Linus!" in done.stdout, done.stderr


def test_in_process_shares_the_servers_instances(quickstart: tuple[pathlib.Path, str]) -> None:
    folder, _ = quickstart
    output = run_python(page_blocks()[6].text, folder).splitlines()
    assert output[0].startswith("Hello Ken! Before you I met: Ada, Grace")
    assert output[1].startswith("['Ada', 'Grace'") and output[1].endswith("'Ken']")
