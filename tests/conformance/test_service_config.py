"""The published service config is valid, names only real methods, and every client's copy matches it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from motion_grpc._proto.motion.v1 import motion_pb2 as pb

ROOT = Path(__file__).resolve().parents[2]
SERVICE_CONFIG = ROOT / "proto" / "motion" / "v1" / "service_config.json"
#: Retried: the idempotent RPCs, and Run (safe with a request id).
RETRIED = {"GetState", "DescribeComponents", "ListInstances", "FlushUpdates", "Run"}


def _load(path: Path) -> Any:
    return json.loads(path.read_text())


def test_the_service_config_retries_exactly_the_retry_safe_methods() -> None:
    config = _load(SERVICE_CONFIG)
    service = pb.DESCRIPTOR.services_by_name["MotionService"]
    named = [name for method in config["methodConfig"] for name in method["name"]]
    assert {name["service"] for name in named} == {service.full_name}
    assert {name["method"] for name in named} == RETRIED
    assert set(service.methods_by_name) >= RETRIED
    for method in config["methodConfig"]:
        assert method["retryPolicy"]["retryableStatusCodes"] == ["UNAVAILABLE"]


def test_every_copy_under_clients_matches_the_published_one() -> None:
    published = _load(SERVICE_CONFIG)
    copies = [p for p in (ROOT / "clients").rglob("service_config.json") if "node_modules" not in p.parts]
    for copy in copies:
        assert _load(copy) == published, f"{copy.relative_to(ROOT)} differs from the published config"
