"""deploy/: the Kubernetes manifests validate (kubeconform, offline schemas), and the health names their
probes ask for answer as the probes expect.

kubeconform fetches its schemas from GitHub by default, which CI cannot reach: the schemas come
from the kubernetes-validate package (a dev dependency), whose cross-file references are rewritten
here to file URLs kubeconform can follow.
"""

from __future__ import annotations

import json
import os
import pathlib
import re
import shutil
import subprocess
from collections.abc import Iterator

import pytest

from motion_grpc.cli import main
from motion_grpc.store import RedisServer
from tests.helpers import ROOT, ServerProcess, assert_eventually

DEPLOY = ROOT / "deploy"
INSTALL_KUBECONFORM = "go install github.com/yannh/kubeconform/cmd/kubeconform@latest"
KINDS = ["deployment-apps-v1", "service-v1", "configmap-v1", "secret-v1", "poddisruptionbudget-policy-v1"]


def _kubeconform() -> str:
    gopath_bin = pathlib.Path(os.environ.get("GOPATH", pathlib.Path.home() / "go")) / "bin" / "kubeconform"
    found = shutil.which("kubeconform") or (str(gopath_bin) if gopath_bin.exists() else None)
    if found is None:
        pytest.skip(f"kubeconform is not installed: {INSTALL_KUBECONFORM}")
    return found


def _packaged_schemas() -> pathlib.Path:
    kubernetes_validate = pytest.importorskip("kubernetes_validate", reason="pip install kubernetes-validate")
    root = pathlib.Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema"
    versions = [path for path in root.iterdir() if path.name.endswith("-local-strict")]
    return max(versions, key=lambda path: [int(n) for n in re.findall(r"\d+", path.name)])


@pytest.fixture(scope="module")
def schemas(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """The schemas of the kinds in deploy/, with references to /api/_definitions.json made file URLs."""
    source, target = _packaged_schemas(), tmp_path_factory.mktemp("schemas")
    definitions = (target / "_definitions.json").as_uri()
    for name in ["_definitions", *KINDS]:
        text = (source / f"{name}.json").read_text()
        (target / f"{name}.json").write_text(text.replace('"/api/_definitions.json', f'"{definitions}'))
    return target


def kubeconform(schemas: pathlib.Path, *paths: pathlib.Path) -> subprocess.CompletedProcess[str]:
    command = [_kubeconform(), "-strict", "-summary", "-output", "json", "-skip", "Kustomization",
               "-schema-location", f"{schemas}/{{{{ .ResourceKind }}}}{{{{ .KindSuffix }}}}.json",
               *map(str, paths)]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, check=False, timeout=60)


def test_manifests_validate(schemas: pathlib.Path) -> None:
    result = kubeconform(schemas, DEPLOY)
    summary = json.loads(result.stdout)["summary"]
    assert result.returncode == 0, result.stdout
    assert summary == {"valid": 5, "invalid": 0, "errors": 0, "skipped": 1}  # skipped: kustomization.yaml


def test_a_wrong_manifest_is_refused(schemas: pathlib.Path, tmp_path: pathlib.Path) -> None:
    """The check can fail: a probe period given as a string is invalid."""
    deployment = (DEPLOY / "deployment.yaml").read_text()
    broken = tmp_path / "deployment.yaml"
    broken.write_text(deployment.replace("periodSeconds: 5", 'periodSeconds: "5s"', 1))
    result = kubeconform(schemas, broken)
    assert result.returncode == 1
    assert json.loads(result.stdout)["summary"]["invalid"] == 1


def test_probes_are_grpc_on_the_names_the_server_answers() -> None:
    deployment = (DEPLOY / "deployment.yaml").read_text()
    probes = re.findall(r"(\w+Probe):\n\s+grpc:\n\s+port: (\d+)\n(?:\s+service: (\w+)\n)?", deployment)
    assert sorted(probes) == [
        ("livenessProbe", "50051", "liveness"),
        ("readinessProbe", "50051", ""),
        ("startupProbe", "50051", "liveness"),
    ]


def test_applying_the_kustomization_again_keeps_the_redis_url_the_operator_gave() -> None:
    """The Secret is created by hand (or from deploy/secret.yaml) once: `kubectl apply -k deploy/`
    must not carry a placeholder URL over it."""
    kustomization = (DEPLOY / "kustomization.yaml").read_text()
    resources = re.findall(r"^\s+- (\S+)$", kustomization, re.MULTILINE)
    assert resources and all((DEPLOY / name).exists() for name in resources)
    assert not any("kind: Secret" in (DEPLOY / name).read_text() for name in resources)
    assert "secretGenerator" not in kustomization


def _health(target: str, service: str, capsys: pytest.CaptureFixture[str]) -> str:
    main(["health", "--target", target, "--service", service, "--json"])
    out = capsys.readouterr().out
    return str(json.loads(out)["status"]) if out else "UNREACHABLE"


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    with RedisServer(appendonly=False) as server:
        yield server


def test_readiness_follows_redis_and_liveness_does_not(
    own_redis: RedisServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """A Redis outage takes replicas out of the Service without restarting them."""
    with ServerProcess(redis_url=own_redis.url) as server:
        assert _health(server.target, "", capsys) == "SERVING"
        assert _health(server.target, "liveness", capsys) == "SERVING"
        own_redis.stop()
        assert_eventually(lambda: _health(server.target, "", capsys) == "NOT_SERVING", timeout=20)
        assert _health(server.target, "liveness", capsys) == "SERVING"
