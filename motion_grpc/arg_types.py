"""Argument types of the command-line flags: a bad value stops the command with what to fix."""

from __future__ import annotations

import argparse
import logging

LOG_LEVELS = ("CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG")


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be >= 1")
    return value


def seconds(text: str) -> float:
    """A duration that must be above 0 (0 would make a loop spin or a lease expire at once)."""
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError("must be a number of seconds > 0")
    return value


def port(text: str) -> int:
    """A TCP port, 0 to 65535 (0: a free one)."""
    value = int(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be a port from 0 to 65535, not {value}")
    return value


def log_level(text: str) -> str:
    """A logging level name, any case."""
    name = text.strip().upper()
    if name not in LOG_LEVELS or not isinstance(logging.getLevelName(name), int):
        raise argparse.ArgumentTypeError(f"must be one of {', '.join(LOG_LEVELS)}, not {text!r}")
    return name
