"""What `motion-grpc serve APP` says of an app it cannot load."""

from __future__ import annotations

import pathlib

import pytest

from motion_grpc.server.loader import AppLoadError, load_module


def test_a_directory_or_a_missing_file_is_named_for_what_it_is(tmp_path: pathlib.Path) -> None:
    with pytest.raises(AppLoadError, match="is a directory; give a"):
        load_module(str(tmp_path))
    with pytest.raises(AppLoadError, match="does not exist"):
        load_module(str(tmp_path / "missing.py"))
