"""Output and connection of the operator commands: shared by every `motion-grpc` client command."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from typing import Any, TextIO

import grpc

from motion_grpc.client import MotionClient
from motion_grpc.client._credentials import channel_credentials as tls_credentials
from motion_grpc.errors import InvalidArgumentError, MotionError


@dataclass(frozen=True)
class Output:
    """Where a command's answer goes: human text, or one JSON document per answer."""

    as_json: bool
    out: TextIO = field(default_factory=lambda: sys.stdout)
    err: TextIO = field(default_factory=lambda: sys.stderr)

    def emit(self, human: str, data: Any) -> None:
        text = json.dumps(data, sort_keys=True) if self.as_json else human
        print(text, file=self.out, flush=True)

    def failed(self, command: str, error: MotionError, hint: str = "") -> int:
        code, message = error.code.name, error.message + hint
        if self.as_json:
            print(json.dumps({"error": {"code": code, "message": message}}), file=self.err)
        else:
            print(f"motion-grpc {command}: {code}: {message}", file=self.err)
        return 1


def connect(args: argparse.Namespace) -> MotionClient:
    """A client for --target: TLS when any TLS option is given, the API key or token on every call."""
    try:
        return MotionClient(
            args.target,
            credentials=channel_credentials(args),
            options=tls_options(args),
            api_key=args.api_key or None,
            token=args.token or None,
        )
    except ValueError as exc:
        raise InvalidArgumentError(f"{exc} (--api-key / MOTION_API_KEY, --token / MOTION_TOKEN)") from exc


def channel_credentials(args: argparse.Namespace) -> grpc.ChannelCredentials | None:
    """TLS credentials from --tls/--ca-cert/--client-cert/--client-key; None for plaintext."""
    if bool(args.client_cert) != bool(args.client_key):
        raise InvalidArgumentError("--client-cert and --client-key go together (mutual TLS needs both)")
    return tls_credentials(
        None,
        args.tls,
        read_file(args.ca_cert, "--ca-cert"),
        read_file(args.client_cert, "--client-cert"),
        read_file(args.client_key, "--client-key"),
    )


def tls_options(args: argparse.Namespace) -> list[tuple[str, Any]]:
    if args.server_name:
        return [("grpc.ssl_target_name_override", args.server_name)]
    return []


def read_file(path: str | None, option: str) -> bytes | None:
    if not path:
        return None
    try:
        with open(path, "rb") as file:
            return file.read()
    except OSError as exc:
        raise InvalidArgumentError(f"{option}: cannot read {path}: {exc.strerror}") from exc
