"""The kind path without a cluster: deploy/kind/cluster.yaml agrees with the chart's kind values, and tools/kind's
scripts run the steps `make kind-up` promises, in order, against stand-ins for docker, kind, helm and kubectl."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.chart import CHART, NAMESPACE, RELEASE, ROOT, VALUES_FILES, containers, objects_of, render

CLUSTER_CONFIG = ROOT / "deploy" / "kind" / "cluster.yaml"
UP = ROOT / "tools" / "kind" / "up.sh"
DOWN = ROOT / "tools" / "kind" / "down.sh"
GATEWAY_SERVICE = "luckygas-gateway"
# What the scripts use besides the four tools stood in for.
BASIC_UTILITIES = ("bash", "env", "basename", "dirname", "grep", "mktemp", "cat", "cp", "rm")
# A stand-in for a command: records its name and arguments (tab-separated, one call a line); `kind get clusters`
# answers $STUB_CLUSTERS and `kind create cluster --config FILE` keeps a copy of FILE.
STUB = r"""#!/usr/bin/env bash
name=$(basename "$0")
{ printf '%s' "$name"; printf '\t%s' "$@"; printf '\n'; } >>"$STUB_LOG"
if [ "$name $1 $2" = "kind get clusters" ]; then printf '%s' "${STUB_CLUSTERS:-}"; fi
if [ "$name $1 $2" = "kind create cluster" ]; then
	while [ $# -gt 0 ]; do [ "$1" = --config ] && cp "$2" "$STUB_CAPTURE"; shift; done
fi
exit 0
"""


def load_yaml(path: Path) -> Any:
    with path.open(encoding="utf-8") as file:
        return yaml.safe_load(file)


def project_version() -> str:
    with (ROOT / "pyproject.toml").open("rb") as file:
        version: str = tomllib.load(file)["project"]["version"]
    return version


def kind_objects() -> list[dict[str, Any]]:
    return render(VALUES_FILES["kind"])


def gateway_service(objects: list[dict[str, Any]]) -> dict[str, Any]:
    (service,) = [item for item in objects_of(objects, "Service") if item["metadata"]["name"] == GATEWAY_SERVICE]
    return service


def test_the_cluster_has_one_control_plane_and_two_workers() -> None:
    cluster = load_yaml(CLUSTER_CONFIG)

    assert (cluster["apiVersion"], cluster["kind"], cluster["name"]) == ("kind.x-k8s.io/v1alpha4", "Cluster", RELEASE)
    assert sorted(node["role"] for node in cluster["nodes"]) == ["control-plane", "worker", "worker"]
    assert cluster["networking"]["disableDefaultCNI"] is False


def test_the_host_port_reaches_the_gateways_node_port() -> None:
    cluster = load_yaml(CLUSTER_CONFIG)
    mappings = [(node["role"], mapping) for node in cluster["nodes"] for mapping in node.get("extraPortMappings", [])]
    service = gateway_service(kind_objects())
    (http,) = [port for port in service["spec"]["ports"] if port["port"] == 80]

    assert service["spec"]["type"] == "NodePort"
    assert mappings == [
        (
            "control-plane",
            {"containerPort": http["nodePort"], "hostPort": 8080, "listenAddress": "127.0.0.1", "protocol": "TCP"},
        )
    ]


def test_the_kind_release_runs_the_image_kind_up_builds_and_loads() -> None:
    """up.sh tags the image with pyproject's version; a loaded image must not be pulled (no registry has it)."""
    platform = [item for item in containers(kind_objects()) if item["image"].startswith("luckygas/platform")]

    assert platform, "no container runs luckygas/platform"
    assert {item["image"] for item in platform} == {f"luckygas/platform:{project_version()}"}
    assert {item.get("imagePullPolicy", "IfNotPresent") for item in platform} <= {"IfNotPresent", "Never"}
    assert load_yaml(CHART / "Chart.yaml")["appVersion"] == project_version()


def test_the_login_kind_up_prints_uses_the_secret_and_demo_password_the_kind_release_has() -> None:
    text = UP.read_text(encoding="utf-8")
    secret_name, key = re.findall(r"get secret (\S+) -o jsonpath='\{\.data\.([\w-]+)\}'", text)[0]
    (printed_password,) = re.findall(r"have the password (\S+)\.", text)
    objects = kind_objects()
    (secret,) = [item for item in objects_of(objects, "Secret") if item["metadata"]["name"] == secret_name]
    demo_passwords = {
        variable["value"]
        for container in containers(objects)
        for variable in container.get("env", [])
        if variable["name"] == "LUCKYGAS_DEMO_PASSWORD"
    }

    assert key in secret.get("data", {}) | secret.get("stringData", {})
    assert demo_passwords == {printed_password}


@pytest.mark.parametrize("script", [UP, DOWN], ids=["up", "down"])
def test_the_scripts_parse_and_stop_at_the_first_error(script: Path) -> None:
    subprocess.run(["bash", "-n", str(script)], check=True)
    assert "set -euo pipefail" in script.read_text(encoding="utf-8")


def run_script(
    script: Path,
    tmp_path: Path,
    clusters: str = "",
    environment: dict[str, str] | None = None,
    missing: tuple[str, ...] = (),
) -> tuple[subprocess.CompletedProcess[str], list[list[str]]]:
    """Run a tools/kind script with docker, kind, helm and kubectl stood in for (less those ``missing``) and only
    the basic utilities besides on PATH, so a real docker or kind on this machine is never reached; return the
    result and the calls the stand-ins saw."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for utility in BASIC_UTILITIES:
        located = shutil.which(utility)
        assert located is not None, f"{utility} is not installed"
        (bin_dir / utility).symlink_to(located)
    for name in {"docker", "kind", "helm", "kubectl"} - set(missing):
        (bin_dir / name).write_text(STUB, encoding="utf-8")
        (bin_dir / name).chmod(0o755)
    log = tmp_path / "calls.log"
    log.write_text("", encoding="utf-8")
    result = subprocess.run(
        [str(bin_dir / "bash"), str(script)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={
            "PATH": str(bin_dir),
            "HOME": str(tmp_path),
            "TMPDIR": str(tmp_path),
            "HELM": str(bin_dir / "helm"),
            "KUBECTL": str(bin_dir / "kubectl"),
            "PYTHON": sys.executable,
            "STUB_LOG": str(log),
            "STUB_CLUSTERS": clusters,
            "STUB_CAPTURE": str(tmp_path / "cluster-config.yaml"),
            **(environment or {}),
        },
    )
    calls = [line.split("\t") for line in log.read_text(encoding="utf-8").splitlines()]
    return result, calls


def test_kind_up_creates_the_cluster_builds_loads_installs_and_tests(tmp_path: Path) -> None:
    result, calls = run_script(UP, tmp_path)
    image = f"luckygas/platform:{project_version()}"
    steps = [call for call in calls if call[:2] not in (["docker", "info"], ["kind", "get"])]

    assert result.returncode == 0, result.stderr
    context = f"--kube-context kind-{RELEASE} --namespace {NAMESPACE}"
    assert [" ".join(step) for step in steps] == [
        f"kind create cluster --name {RELEASE} --config deploy/kind/cluster.yaml --wait 5m",
        f"docker build -t {image} -f Containerfile .",
        f"kind load docker-image {image} --name {RELEASE}",
        f"helm upgrade --install {RELEASE} charts/luckygas {context} --create-namespace"
        " --values deploy/kind/values.yaml --wait --timeout 10m",
        f"helm test {RELEASE} {context} --logs --timeout 5m",
    ]
    assert "get secret luckygas-secrets -o jsonpath='{.data.admin-password}' | base64 -d" in result.stdout
    assert "http://127.0.0.1:8080" in result.stdout


def test_kind_up_reuses_a_cluster_that_exists(tmp_path: Path) -> None:
    result, calls = run_script(UP, tmp_path, clusters="other\nluckygas\n")

    assert result.returncode == 0, result.stderr
    assert [call for call in calls if call[:2] == ["kind", "create"]] == []
    assert ["helm", "test"] in [call[:2] for call in calls]


def test_kind_up_with_calico_creates_the_cluster_without_kindnet_and_installs_calico(tmp_path: Path) -> None:
    result, calls = run_script(UP, tmp_path, environment={"KIND_CNI": "calico"})
    created = load_yaml(tmp_path / "cluster-config.yaml")
    ours = load_yaml(CLUSTER_CONFIG)
    kubectl = [call for call in calls if call[0] == "kubectl"]

    assert result.returncode == 0, result.stderr
    assert created["networking"] == {"disableDefaultCNI": True, "podSubnet": "192.168.0.0/16"}
    assert {**created, "networking": None} == {**ours, "networking": None}
    assert any(arg.endswith("/manifests/calico.yaml") for arg in kubectl[0])
    assert calls.index(kubectl[-1]) < calls.index(next(call for call in calls if call[:2] == ["helm", "upgrade"]))


def test_kind_up_without_docker_says_what_to_install(tmp_path: Path) -> None:
    result, calls = run_script(UP, tmp_path, missing=("docker",))

    assert result.returncode == 1
    assert "docker is not installed" in result.stderr
    assert calls == []


@pytest.mark.parametrize(("clusters", "deleted"), [("luckygas\n", True), ("other\n", False)])
def test_kind_down_deletes_only_the_luckygas_cluster(tmp_path: Path, clusters: str, deleted: bool) -> None:
    result, calls = run_script(DOWN, tmp_path, clusters=clusters)

    assert result.returncode == 0, result.stderr
    assert (["kind", "delete", "cluster", "--name", RELEASE] in calls) is deleted
    assert [call for call in calls if call[:2] == ["kind", "delete"] and call[-1] != RELEASE] == []


def test_the_scripts_are_executable() -> None:
    assert os.access(UP, os.X_OK)
    assert os.access(DOWN, os.X_OK)
