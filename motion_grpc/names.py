"""Validation of component names, flow keys and instance ids.

A leaf module, so that definitions, the engine and the server check names the
same way. Names end up in Redis keys, log lines, error messages and other
people's terminals: a character that is invisible or reorders text (U+202E
RIGHT-TO-LEFT OVERRIDE, U+200B ZERO WIDTH SPACE, U+2028 LINE SEPARATOR, a
U+FEFF byte order mark) would let two ids that look alike differ, or make a
log line lie, so such names are refused rather than stored.
"""

from __future__ import annotations

import unicodedata

from motion_grpc.errors import InvalidArgumentError
from motion_grpc.logs import excerpt

MAX_NAME_LENGTH = 256

#: How much of a refused name its error message shows.
_ECHO_LIMIT = 80


def validate_name(value: object, what: str) -> str:
    """Check a component name, flow key or instance id; raise INVALID_ARGUMENT otherwise.

    Refused: empty names, names over MAX_NAME_LENGTH characters, and names with
    a character of the Unicode categories Cc, Cf, Cs, Co, Cn, Zl, Zp or Zs other
    than the plain space U+0020.
    """
    if not isinstance(value, str):
        raise InvalidArgumentError(f"{what} must be a string, not {type(value).__name__}")
    if not value:
        raise InvalidArgumentError(f"{what} must not be empty")
    if len(value) > MAX_NAME_LENGTH:
        raise InvalidArgumentError(f"{what} is {len(value)} characters long; at most {MAX_NAME_LENGTH}")
    # str.isprintable is False exactly for the categories "Other" and "Separator" except
    # U+0020: the refused set, checked at C speed on every call.
    if not value.isprintable():
        raise InvalidArgumentError(_refusal(value, what))
    return value


def _refusal(value: str, what: str) -> str:
    index, char = next((i, c) for i, c in enumerate(value) if not c.isprintable())
    return (
        f"{what} {excerpt(value, _ECHO_LIMIT)} has {describe_char(char)} at index {index}; names must "
        "not contain control characters, invisible format characters, line or paragraph separators, "
        "spaces other than U+0020, or unassigned code points"
    )


def describe_char(char: str) -> str:
    """`U+202E (RIGHT-TO-LEFT OVERRIDE)`: a character named without printing it."""
    name = unicodedata.name(char, "") or f"category {unicodedata.category(char)}"
    return f"U+{ord(char):04X} ({name})"
