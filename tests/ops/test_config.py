"""`motion-grpc serve` settings: a flag, else its MOTION_* variable, else --config FILE, else the default;
`--version`; `--help` shows the defaults."""

from __future__ import annotations

import pathlib
import subprocess
from collections.abc import Iterator

import pytest

from motion_grpc import __version__
from motion_grpc.cli import build_parser
from motion_grpc.config import ConfigError, layered_defaults, parse_args
from tests.helpers import MOTION_GRPC, TEST_APP, ServerProcess, clean_env, free_port


def _serve_parser() -> object:
    parser = build_parser()
    parse_args(parser, ["serve", TEST_APP])  # installs --config and the help formatter
    return parser


def _args(argv: list[str], monkeypatch: pytest.MonkeyPatch, **env: str) -> object:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return parse_args(build_parser(), ["serve", TEST_APP, *argv])


def test_precedence_flag_over_env_over_file_over_default(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "motion.toml"
    config.write_text("port = 7001\nmax-concurrent-serves = 11\nserve_queue = 12\ndebug = true\n")
    monkeypatch.delenv("MOTION_CONFIG", raising=False)
    args = _args(["--config", str(config), "--port", "7003"], monkeypatch,
                 MOTION_PORT="7002", MOTION_MAX_CONCURRENT_SERVES="21")  # fmt: skip
    assert args.port == 7003  # type: ignore[attr-defined]  # flag
    assert args.max_concurrent_serves == 21  # type: ignore[attr-defined]  # env over file
    assert args.serve_queue == 12  # type: ignore[attr-defined]  # file over default
    assert args.debug is True  # type: ignore[attr-defined]
    assert args.lease_ttl == 5.0  # type: ignore[attr-defined]  # default


@pytest.mark.parametrize(
    ("line", "reflection"),
    [
        ("reflection = false", False),
        ("reflection = true", True),
        ("no_reflection = true", False),
        ("no-reflection = false", True),
    ],
)
def test_a_switch_in_the_file_means_what_its_key_says(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch, line: str, reflection: bool
) -> None:
    """The setting's own name (reflection = false: off) or the flag's (no_reflection = true: off)."""
    config = tmp_path / "motion.toml"
    config.write_text(line + "\n")
    monkeypatch.delenv("MOTION_CONFIG", raising=False)
    monkeypatch.delenv("MOTION_NO_REFLECTION", raising=False)
    args = _args(["--config", str(config)], monkeypatch)
    assert args.reflection is reflection  # type: ignore[attr-defined]


def test_existing_variables_keep_their_meaning(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MOTION_REDIS_URL", raising=False)
    args = _args([], monkeypatch, MOTION_REDIS_HOST="db.internal", MOTION_REDIS_PORT="6380",
                 MOTION_EVENTS_RETENTION="77")  # fmt: skip
    assert args.redis == "redis://db.internal:6380/0"  # type: ignore[attr-defined]
    assert args.events_retention == 77  # type: ignore[attr-defined]
    args = _args([], monkeypatch, MOTION_REDIS_URL="redis://elsewhere:1/2")
    assert args.redis == "redis://elsewhere:1/2"  # type: ignore[attr-defined]


def test_bad_values_name_their_origin(tmp_path: pathlib.Path) -> None:
    parser = build_parser()
    parse_args(parser, ["serve", TEST_APP])
    serve = next(a for a in parser._actions if a.dest == "command").choices["serve"]  # type: ignore[union-attr]
    with pytest.raises(ConfigError, match="MOTION_PORT='http'"):
        layered_defaults(serve, None, {"MOTION_PORT": "http"})
    with pytest.raises(ConfigError, match="must be >= 1"):
        layered_defaults(serve, None, {"MOTION_MAX_CONCURRENT_SERVES": "0"})
    config = tmp_path / "motion.toml"
    config.write_text("prot = 1\n")
    with pytest.raises(ConfigError, match="unknown setting 'prot'"):
        layered_defaults(serve, str(config), {})
    config.write_text("debug = 'maybe'\n")
    with pytest.raises(ConfigError, match="expected true or false"):
        layered_defaults(serve, str(config), {})


def test_version_and_help_show_defaults() -> None:
    version = subprocess.run(
        [MOTION_GRPC, "--version"], check=False, capture_output=True, text=True, timeout=30
    )
    assert version.returncode == 0
    assert version.stdout.strip() == f"motion-grpc {__version__}"
    shown = subprocess.run(
        [MOTION_GRPC, "serve", "--help"], check=False, capture_output=True, text=True, timeout=30
    )
    text = " ".join(shown.stdout.split())
    assert "(default: 5.0)" in text  # --lease-ttl had no default in its help text
    assert "default: INFO" in text or "(default: INFO)" in text
    assert "MOTION_MAX_CONCURRENT_SERVES" in text


@pytest.fixture
def configured_server(tmp_path: pathlib.Path, redis_url: str) -> Iterator[tuple[ServerProcess, int, int]]:
    """A real serve whose port comes from the file, overridden by MOTION_PORT, overridden by the flag."""
    file_port, env_port = free_port(), free_port()
    config = tmp_path / "motion.toml"
    config.write_text(f'port = {file_port}\nmetrics_port = {free_port()}\nhost = "127.0.0.1"\n')
    process = ServerProcess(redis_url=redis_url, args=["--config", str(config)],
                            env=clean_env(MOTION_PORT=str(env_port)))  # fmt: skip
    yield process, file_port, env_port
    if process.process is not None:
        process.stop()


def test_a_real_serve_takes_the_flag_then_env_then_file(
    configured_server: tuple[ServerProcess, int, int],
) -> None:
    process, _, _ = configured_server
    with process:  # ServerProcess passes --port: the flag wins over MOTION_PORT and the file
        assert process.target.endswith(f":{process.port}")
    # Without the flag, MOTION_PORT wins over the file.
    command = [part for part in process.command if part not in ("--port", str(process.port))]
    env_port = configured_server[2]
    process.command, process.port, process.target = command, env_port, f"127.0.0.1:{env_port}"
    with process:
        pass
