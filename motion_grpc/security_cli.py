"""The security flags of `motion-grpc serve`, and `motion-grpc token issue`."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from motion_grpc.errors import InvalidArgumentError
from motion_grpc.server.auth import AuthFiles, CredentialsFileError
from motion_grpc.server.security import SecurityOptions, UnsafeExposureError
from motion_grpc.server.tls import TlsFileError, TlsFiles
from motion_grpc.server.tokens import SecretFileError, issue_token, read_secret

#: What a server refuses to start with; the CLI prints the message and exits with status 2.
SECURITY_ERRORS = (UnsafeExposureError, CredentialsFileError, TlsFileError)


def add_security_options(serve: argparse.ArgumentParser) -> None:
    group = serve.add_argument_group("security", "TLS, credentials and safe defaults (README: Security)")
    group.add_argument("--tls-cert", metavar="PEM", help="server certificate chain; serve TLS with --tls-key")
    group.add_argument("--tls-key", metavar="PEM", help="server private key")
    group.add_argument(
        "--tls-client-ca", metavar="PEM", help="require client certificates signed by this CA (mutual TLS)"
    )
    group.add_argument(
        "--api-key-file",
        metavar="FILE",
        help="API keys, one 'ROLE KEY' or 'ROLE sha256:HEX' a line (ROLE admin or client); re-read on SIGHUP",
    )
    group.add_argument(
        "--token-secret-file",
        metavar="FILE",
        help="secret (>= 32 bytes) that signs instance tokens (motion-grpc token issue); re-read on SIGHUP",
    )
    group.add_argument(
        "--insecure",
        action="store_true",
        help="allow a non-loopback address without TLS and authentication (a mesh secures the traffic)",
    )


def security_options(args: argparse.Namespace) -> SecurityOptions:
    """The SecurityOptions of parsed `serve` flags; TlsFileError when only half of TLS is given."""
    if bool(args.tls_cert) != bool(args.tls_key):
        raise TlsFileError("--tls-cert and --tls-key go together: give both, or neither")
    if args.tls_client_ca and not args.tls_cert:
        raise TlsFileError("--tls-client-ca needs TLS: give --tls-cert and --tls-key too")
    tls = TlsFiles(args.tls_cert, args.tls_key, args.tls_client_ca) if args.tls_cert else None
    return SecurityOptions(
        tls=tls, auth=AuthFiles(args.api_key_file, args.token_secret_file), insecure=args.insecure
    )


def add_token_parser(commands: Any) -> None:
    token = commands.add_parser("token", help="instance-scoped tokens for less trusted callers")
    actions = token.add_subparsers(dest="token_command", required=True)
    issue = actions.add_parser(
        "issue", help="print a token for the client RPCs on one instance (alone on its last line)"
    )
    issue.add_argument("component", metavar="COMPONENT")
    issue.add_argument("instance", metavar="INSTANCE")
    issue.add_argument("--ttl", type=float, required=True, metavar="SECONDS", help="seconds until it expires")
    issue.add_argument(
        "--secret-file", required=True, metavar="FILE", help="the server's --token-secret-file"
    )
    issue.add_argument("--log-level", default="WARNING")


def run_token(args: argparse.Namespace) -> int:
    """`motion-grpc token issue`: the token on stdout, or the reason on stderr and status 2."""
    try:
        token = issue_token(read_secret(args.secret_file), args.component, args.instance, args.ttl)
    except (SecretFileError, InvalidArgumentError) as exc:
        print(f"motion-grpc: {exc}", file=sys.stderr)
        return 2
    except ValueError as exc:  # the ttl
        print(f"motion-grpc: --ttl: {exc}", file=sys.stderr)
        return 2
    print(token, flush=True)
    return 0
