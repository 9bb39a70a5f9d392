"""Settings for `motion-grpc serve` from flags, `MOTION_*` variables and a TOML file.

Precedence: a flag on the command line, else its environment variable, else
the `--config` file, else the built-in default. The variable of a flag is
derived from its name (`--max-concurrent-serves` -> MOTION_MAX_CONCURRENT_SERVES),
so every flag gets one, including flags added later; a few flags keep the
names they had before this module existed (`ENV_NAMES`). Values from the
environment and the file go through the flag's own type check, and a bad one
stops the command naming where it came from.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

from motion_grpc import __version__
from motion_grpc.store.connection import RedisSettings

#: The subcommand whose flags come from the environment and the config file.
CONFIGURED_COMMAND = "serve"
ENV_PREFIX = "MOTION_"
CONFIG_ENV = "MOTION_CONFIG"
#: Flags whose variable predates this module (`--redis` also takes Motion's MOTION_REDIS_HOST...).
ENV_NAMES = {"redis": "MOTION_REDIS_URL"}
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}
_NOT_CONFIGURABLE = {"help", "config", "version"}


class ConfigError(ValueError):
    """A value from the environment or the config file that its flag refuses; says which and why."""


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows every default, except where the help text already says what the default is."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if "default" in text.lower() or action.default is argparse.SUPPRESS or not action.option_strings:
            return text
        return f"{text} (default: %(default)s)"


def parse_args(parser: argparse.ArgumentParser, argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse `argv` with flags taking their defaults from the environment, then the config file."""
    install(parser)
    args = parser.parse_args(argv)
    if getattr(args, "command", None) != CONFIGURED_COMMAND:
        return args
    command = _subparser(parser, CONFIGURED_COMMAND)
    try:
        defaults = layered_defaults(command, args.config or os.environ.get(CONFIG_ENV), os.environ)
    except ConfigError as exc:
        command.error(str(exc))
    command.set_defaults(**defaults)
    return parser.parse_args(argv)


def install(parser: argparse.ArgumentParser) -> None:
    """Add `--version`, `serve --config`, the defaults in `--help`, and the variables in the epilog."""
    if any("--version" in action.option_strings for action in parser._actions):
        return
    parser.add_argument("--version", action="version", version=f"motion-grpc {__version__}")
    for sub in [parser, *_subparsers(parser).values()]:
        sub.formatter_class = HelpFormatter
        for action in sub._actions:
            if action.option_strings and action.help is None:  # argparse shows nothing for these
                action.help = "(default: %(default)s)"
    command = _subparser(parser, CONFIGURED_COMMAND)
    command.add_argument(
        "--config",
        default=None,
        metavar="FILE",
        help=f"TOML file of flag values, e.g. port = 50051 (default: {CONFIG_ENV}, else none)",
    )
    command.epilog = (
        "Every flag can also be set by a variable named after it (--max-concurrent-serves: "
        "MOTION_MAX_CONCURRENT_SERVES; --redis: MOTION_REDIS_URL) or by a key of the --config file "
        "(max_concurrent_serves = 64). A flag wins over its variable, a variable over the file."
    )


def env_name(action: argparse.Action) -> str:
    """The variable that sets a flag: MOTION_ and its first long option, upper-cased."""
    if action.dest in ENV_NAMES:
        return ENV_NAMES[action.dest]
    long = next((o for o in action.option_strings if o.startswith("--")), action.option_strings[0])
    return ENV_PREFIX + long.lstrip("-").replace("-", "_").upper()


def configurable(command: argparse.ArgumentParser) -> list[argparse.Action]:
    """The flags of `command` that the environment and the config file may set."""
    return [
        action
        for action in command._actions
        if action.option_strings and action.dest not in _NOT_CONFIGURABLE
    ]


def layered_defaults(
    command: argparse.ArgumentParser, config_path: str | None, env: Mapping[str, str]
) -> dict[str, Any]:
    """Each flag's value from the environment, else from the config file; unset flags are left out."""
    actions = configurable(command)
    defaults = _from_file(actions, config_path) if config_path else {}
    for action in actions:
        raw = _env_value(action, env)
        if raw is not None:
            defaults[action.dest] = convert(action, raw, f"{env_name(action)}={raw!r}")
    return defaults


def _env_value(action: argparse.Action, env: Mapping[str, str]) -> str | None:
    if action.dest == "redis":
        settings = RedisSettings.from_env(env)
        return None if settings is None else settings.url
    return env.get(env_name(action))


def _from_file(actions: list[argparse.Action], path: str) -> dict[str, Any]:
    try:
        with open(path, "rb") as file:
            table = tomllib.load(file)
    except OSError as exc:
        raise ConfigError(f"cannot read the config file {path}: {exc.strerror or exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"the config file {path} is not valid TOML: {exc}") from exc
    by_key = _file_keys(actions)
    values: dict[str, Any] = {}
    for key, value in table.items():
        found = by_key.get(key.replace("-", "_"))
        if found is None:
            known = ", ".join(sorted(by_key))
            raise ConfigError(f"{path}: unknown setting {key!r} (known: {known})")
        action, named_by_flag = found
        origin = f"{path}: {key} = {value!r}"
        if action.nargs == 0 and not named_by_flag:  # `reflection = false`: the setting, not the flag
            values[action.dest] = _truth(value, origin)
        else:
            values[action.dest] = convert(action, value, origin)
    return values


def _file_keys(actions: list[argparse.Action]) -> dict[str, tuple[argparse.Action, bool]]:
    """Config file keys: each flag's long names (`no_reflection`, aliases too), meaning what the
    flag means; and each setting's own name where no flag has it (`reflection`), meaning the
    setting (true: reflection on)."""
    keys: dict[str, tuple[argparse.Action, bool]] = {}
    for action in actions:
        for option in action.option_strings:
            if option.startswith("--"):
                keys[option[2:].replace("-", "_")] = (action, True)
    for action in actions:
        keys.setdefault(action.dest, (action, False))
    return keys


def convert(action: argparse.Action, value: Any, origin: str) -> Any:
    """`value` as the flag itself would have parsed it; ConfigError naming `origin` otherwise."""
    if action.nargs == 0:  # store_true / store_false
        return _switch(action, value, origin)
    if (isinstance(value, list) and action.nargs in ("*", "+")) or isinstance(action, argparse._AppendAction):
        items = value if isinstance(value, list) else [value]
        return [_one(action, item, origin) for item in items]
    return _one(action, value, origin)


def _switch(action: argparse.Action, value: Any, origin: str) -> bool:
    """What a store_true (or store_false) flag stores when set from `value`."""
    on = _truth(value, origin)
    return on if action.const is True else not on


def _truth(value: Any, origin: str) -> bool:
    """`value` as a boolean: true/false, 1/0, yes/no, on/off."""
    if isinstance(value, bool):
        return value
    if str(value).strip().lower() in _TRUE | _FALSE:
        return str(value).strip().lower() in _TRUE
    raise ConfigError(f"{origin}: expected true or false")


def _one(action: argparse.Action, value: Any, origin: str) -> Any:
    convert_type = action.type
    try:
        if callable(convert_type):
            converted = convert_type(str(value) if not isinstance(value, str) else value)
        else:
            converted = value if isinstance(value, (int, float, bool)) else str(value)
    except (argparse.ArgumentTypeError, TypeError, ValueError) as exc:
        raise ConfigError(
            f"{origin}: {exc or 'invalid value'} (as {'/'.join(action.option_strings)})"
        ) from exc
    if action.choices is not None and converted not in action.choices:
        choices = ", ".join(map(str, action.choices))
        raise ConfigError(f"{origin}: must be one of {choices}")
    return converted


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _subparser(parser: argparse.ArgumentParser, name: str) -> argparse.ArgumentParser:
    return _subparsers(parser)[name]


__all__ = ["ConfigError", "HelpFormatter", "convert", "env_name", "install", "layered_defaults", "parse_args"]
