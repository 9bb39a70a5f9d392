"""The checked-in stubs are exactly what `make stubs` generates from proto/."""

from __future__ import annotations

import filecmp
import pathlib
import sys

from tests.helpers import ROOT

sys.path.insert(0, str(ROOT / "tools"))
import gen_stubs


def test_stubs_match_the_proto(tmp_path: pathlib.Path) -> None:
    assert gen_stubs.main(tmp_path) == 0
    checked_in = ROOT / "motion_grpc" / "_proto"
    generated = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    assert generated, "the generator produced nothing"
    for relative in generated:
        assert (checked_in / relative).exists(), f"{relative} is missing: run make stubs"
        assert filecmp.cmp(tmp_path / relative, checked_in / relative, shallow=False), (
            f"motion_grpc/_proto/{relative} differs from proto/: run make stubs"
        )
