"""Regenerate motion_grpc/_proto from proto/ (run by `make stubs`).

grpc's generator emits absolute imports (`from motion.v1 import motion_pb2`);
the stubs live under motion_grpc._proto, so that import is rewritten here.
The published service config is copied beside them: the Python client's default.
Run as a script, it also refreshes the copies of proto/motion/v1 files that
clients keep in their own folders (the Node package ships motion.proto; Go
embeds service_config.json); tests/conformance/test_published_files.py fails
when a copy drifts.
"""

from __future__ import annotations

import pathlib
import re
import shutil
import sys

from grpc_tools import protoc

ROOT = pathlib.Path(__file__).resolve().parent.parent
PROTO_DIR = ROOT / "proto"
OUT_DIR = ROOT / "motion_grpc" / "_proto"
PUBLISHED_DIR = PROTO_DIR / "motion" / "v1"
#: Folders under clients/ that hold installed or built things, not copies kept in git.
NOT_COPIES = {"node_modules", "target", "dist", ".bin"}


def main(out_dir: pathlib.Path = OUT_DIR) -> int:
    protos = sorted(str(p.relative_to(PROTO_DIR)) for p in PROTO_DIR.rglob("*.proto"))
    include = str(pathlib.Path(protoc.__file__).parent / "_proto")
    args = [
        "protoc",
        f"-I{PROTO_DIR}",
        f"-I{include}",
        f"--python_out={out_dir}",
        f"--pyi_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        *protos,
    ]
    if protoc.main(args) != 0:
        return 1
    for path in out_dir.rglob("*.py*"):
        text = path.read_text()
        fixed = re.sub(
            r"^from motion\.v1 import", "from motion_grpc._proto.motion.v1 import", text, flags=re.M
        )
        if fixed != text:
            path.write_text(fixed)
    for config in PROTO_DIR.rglob("service_config.json"):  # the Python client's default retry policy
        shutil.copyfile(config, out_dir / config.relative_to(PROTO_DIR))
    for pkg in {p.parent for p in out_dir.rglob("*_pb2.py")} | {out_dir / "motion"}:
        init = pkg / "__init__.py"
        if not init.exists():
            init.write_text("")
    return 0


def client_copies() -> list[tuple[pathlib.Path, pathlib.Path]]:
    """(published file, a client's copy of it) for every copy under clients/."""
    published = {path.name: path for path in PUBLISHED_DIR.iterdir() if path.is_file()}
    return [
        (published[path.name], path)
        for path in sorted((ROOT / "clients").rglob("*"))
        if path.name in published and path.is_file() and not NOT_COPIES & set(path.parts)
    ]


def refresh_client_copies() -> None:
    for source, copy in client_copies():
        shutil.copyfile(source, copy)


if __name__ == "__main__":
    if len(sys.argv) > 1:
        sys.exit(main(pathlib.Path(sys.argv[1])))
    refresh_client_copies()
    sys.exit(main(OUT_DIR))
