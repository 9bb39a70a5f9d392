"""The published service config is valid and names only real methods, and every copy of a published
file (proto/motion/v1) that a client keeps in its folder matches it."""

from __future__ import annotations

import filecmp
import json
import sys

from motion_grpc._proto.motion.v1 import motion_pb2 as pb
from tests.helpers import ROOT

sys.path.insert(0, str(ROOT / "tools"))
import gen_stubs

SERVICE_CONFIG = ROOT / "proto" / "motion" / "v1" / "service_config.json"
#: Retried: the idempotent RPCs, and Run (safe with a request id).
RETRIED = {"GetState", "DescribeComponents", "ListInstances", "FlushUpdates", "Run"}


def test_the_service_config_retries_exactly_the_retry_safe_methods() -> None:
    config = json.loads(SERVICE_CONFIG.read_text())
    service = pb.DESCRIPTOR.services_by_name["MotionService"]
    named = [name for method in config["methodConfig"] for name in method["name"]]
    assert {name["service"] for name in named} == {service.full_name}
    assert {name["method"] for name in named} == RETRIED
    assert set(service.methods_by_name) >= RETRIED
    for method in config["methodConfig"]:
        # CANCELLED: what a server shutting down answers the calls it received but had not started.
        assert method["retryPolicy"]["retryableStatusCodes"] == ["UNAVAILABLE", "CANCELLED"]


def test_every_copy_under_clients_matches_the_published_file() -> None:
    copies = gen_stubs.client_copies()
    assert {source.name for source, _ in copies} >= {"service_config.json"}, "the clients embed the config"
    for source, copy in copies:
        assert filecmp.cmp(source, copy, shallow=False), (
            f"{copy.relative_to(ROOT)} differs from {source.relative_to(ROOT)}: run make stubs"
        )
