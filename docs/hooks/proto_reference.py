"""MkDocs hook: the gRPC API page is written from the comments of proto/motion/v1/motion.proto.

A page holding the line `<!-- proto-reference -->` gets, in its place, every
RPC of the service and every message and enum with its fields, each with
the comment above it in the proto, so the page can never drift from the API.
"""

from __future__ import annotations

import pathlib
import re
from dataclasses import dataclass, field
from typing import Any

PROTO = pathlib.Path(__file__).resolve().parents[2] / "proto" / "motion" / "v1" / "motion.proto"
MARKER = "<!-- proto-reference -->"
_RPC = re.compile(r"rpc (\w+)\((\w+)\) returns \((stream )?(\w+)\)")
_BLOCK = re.compile(r"(message|enum|service) (\w+) \{")
_FIELD = re.compile(r"(?:(repeated|optional) )?([\w.]+) (\w+) = (\d+);")
_VALUE = re.compile(r"(\w+) = (\d+);")


@dataclass
class Declaration:
    """A service, message or enum: its comment and its members (name, type, comment)."""

    kind: str
    name: str
    comment: str
    members: list[tuple[str, str, str]] = field(default_factory=list)


def parse(text: str) -> list[Declaration]:
    """Top-level declarations with the comment block above each and above each member."""
    declarations: list[Declaration] = []
    comment: list[str] = []
    depth = 0
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("//"):
            if not line.startswith("// buf:"):
                comment.append(line[2:].strip())
            continue
        _take(line, depth, " ".join(c or "\n\n" for c in comment).replace(" \n\n ", "\n\n"), declarations)
        depth += line.count("{") - line.count("}")
        comment = []
    return declarations


def _take(line: str, depth: int, comment: str, declarations: list[Declaration]) -> None:
    block = _BLOCK.match(line)
    if block and depth == 0:
        declarations.append(Declaration(block.group(1), block.group(2), comment))
    elif depth > 0 and declarations and (member := _member(line, declarations[-1].kind)):
        declarations[-1].members.append((*member, comment))


def _member(line: str, kind: str) -> tuple[str, str] | None:
    if kind == "service" and (rpc := _RPC.match(line)):
        returns = f"{rpc.group(3) or ''}{rpc.group(4)}"
        return rpc.group(1), f"({rpc.group(2)}) returns ({returns})"
    if kind == "message" and (member := _FIELD.match(line)):
        return member.group(3), " ".join(filter(None, (member.group(1), member.group(2))))
    if kind == "enum" and (value := _VALUE.match(line)):
        return value.group(1), value.group(2)
    return None


def render(declarations: list[Declaration]) -> str:
    """Markdown: the service's RPCs as sections, then each message and enum with a table of members."""
    parts: list[str] = []
    for declaration in declarations:
        parts.append(f"## {declaration.kind} `{declaration.name}`\n\n{declaration.comment}\n")
        if declaration.kind == "service":
            parts += [
                f"### `{name}`\n\n`{signature}`\n\n{doc}\n" for name, signature, doc in declaration.members
            ]
        elif declaration.members:
            parts.append(_table(declaration))
    return "\n".join(parts)


def _table(declaration: Declaration) -> str:
    header = "| field | type | |" if declaration.kind == "message" else "| value | number | |"
    rows = [f"| `{name}` | `{kind}` | {_cell(doc)} |" for name, kind, doc in declaration.members]
    return "\n".join([header, "|---|---|---|", *rows]) + "\n"


def _cell(text: str) -> str:
    return text.replace("\n\n", " ").replace("|", "\\|")


def on_page_markdown(markdown: str, **kwargs: Any) -> str:
    if MARKER not in markdown:
        return markdown
    return markdown.replace(MARKER, render(parse(PROTO.read_text(encoding="utf-8"))))
