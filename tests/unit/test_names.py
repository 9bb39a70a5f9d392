"""Names (component names, flow keys, instance ids): what is refused, and how the refusal reads."""

from __future__ import annotations

import pytest

from motion_grpc.errors import InvalidArgumentError
from motion_grpc.names import MAX_NAME_LENGTH, validate_name


@pytest.mark.parametrize(
    ("char", "shown"),
    [
        ("\u202e", "U+202E (RIGHT-TO-LEFT OVERRIDE)"),  # Cf: reorders what follows
        ("\u200b", "U+200B (ZERO WIDTH SPACE)"),  # Cf: invisible
        ("\ufeff", "U+FEFF (ZERO WIDTH NO-BREAK SPACE)"),  # Cf: the byte order mark
        ("\u2028", "U+2028 (LINE SEPARATOR)"),  # Zl
        ("\u2029", "U+2029 (PARAGRAPH SEPARATOR)"),  # Zp
        ("\u00a0", "U+00A0 (NO-BREAK SPACE)"),  # Zs other than U+0020
        ("\u3000", "U+3000 (IDEOGRAPHIC SPACE)"),  # Zs
        ("\n", "U+000A (category Cc)"),  # Cc
        ("\x7f", "U+007F (category Cc)"),  # Cc
        ("\ud800", "U+D800 (category Cs)"),  # a lone surrogate
        ("\ue000", "U+E000 (category Co)"),  # private use
        ("\U000e0001", "U+E0001 (LANGUAGE TAG)"),  # Cf, outside the BMP
        ("\U0010fffe", "U+10FFFE (category Cn)"),  # a noncharacter, unassigned
    ],
)
def test_refused_characters_are_named_with_their_index(char: str, shown: str) -> None:
    with pytest.raises(InvalidArgumentError) as info:
        validate_name(f"user{char}42", "instance id")
    assert f"has {shown} at index 4" in info.value.message
    assert char not in info.value.message  # named, never echoed raw
    assert "control characters" in info.value.message


@pytest.mark.parametrize("name", ["a b", "é" * MAX_NAME_LENGTH, "ユーザー", "user-42_x.y:z/w", "😀", "ℵ₀"])
def test_printable_names_are_accepted(name: str) -> None:
    assert validate_name(name, "instance id") == name


def test_refusal_echoes_only_an_excerpt() -> None:
    name = "x" * (MAX_NAME_LENGTH - 1) + "\u202e"
    with pytest.raises(InvalidArgumentError) as info:
        validate_name(name, "instance id")
    assert f"at index {MAX_NAME_LENGTH - 1}" in info.value.message
    assert "more characters" in info.value.message
    assert len(info.value.message) < 400


@pytest.mark.parametrize(
    ("value", "fragment"),
    [("", "must not be empty"), ("x" * (MAX_NAME_LENGTH + 1), "at most 256"), (42, "not int")],
)
def test_empty_long_and_non_string_names(value: object, fragment: str) -> None:
    with pytest.raises(InvalidArgumentError, match=fragment):
        validate_name(value, "flow key")


def test_component_module_keeps_exporting_validate_name() -> None:
    from motion_grpc import component

    assert component.validate_name is validate_name
