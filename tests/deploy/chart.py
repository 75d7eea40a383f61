"""Rendering the Helm chart for the deploy checks: Helm 4 from `make tools`, the chart in charts/luckygas."""

from __future__ import annotations

import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "luckygas"
HELM = ROOT / ".venv" / "tools" / "bin" / "helm"
# Helm 3, which the chart must keep working with (apiVersion v2, nothing Helm 4 alone knows).
HELM3 = ROOT / ".venv" / "tools" / "bin" / "helm3"
RELEASE = "luckygas"
NAMESPACE = "luckygas"
# The values files the checks render: the chart's defaults, then each file of charts/luckygas/ci and kind's.
VALUES_FILES: dict[str, Path | None] = {
    "default": None,
    "kind": ROOT / "deploy" / "kind" / "values.yaml",
    "production": CHART / "ci" / "production-values.yaml",
    "minimal": CHART / "ci" / "minimal-values.yaml",
}
# The CRDs the chart may render behind switches (the Prometheus operator's), declared the way a cluster with the
# operator would announce them, so `helm template` renders them.
API_VERSIONS = ("monitoring.coreos.com/v1",)


def helm(*arguments: str, check: bool = True, binary: Path = HELM) -> subprocess.CompletedProcess[str]:
    """Run Helm (4, or ``binary``); with ``check``, a non-zero exit raises with Helm's own message."""
    result = subprocess.run([str(binary), *arguments], capture_output=True, text=True, timeout=120, check=False)
    if check and result.returncode != 0:
        raise AssertionError(f"helm {' '.join(arguments)} failed ({result.returncode}):\n{result.stderr}")
    return result


def template_arguments(values: Path | None = None, settings: Mapping[str, str] | None = None) -> list[str]:
    arguments = ["template", RELEASE, str(CHART), "--namespace", NAMESPACE]
    for api_version in API_VERSIONS:
        arguments += ["--api-versions", api_version]
    if values is not None:
        arguments += ["--values", str(values)]
    for key, value in (settings or {}).items():
        arguments += ["--set", f"{key}={value}"]
    return arguments


def render_text(values: Path | None = None, settings: Mapping[str, str] | None = None) -> str:
    """The rendered manifests as Helm prints them (hooks and `helm test` pods included)."""
    return helm(*template_arguments(values, settings)).stdout


def render(values: Path | None = None, settings: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
    """Every rendered object, parsed."""
    return [document for document in yaml.safe_load_all(render_text(values, settings)) if document]


def objects_of(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [item for item in objects if item["kind"] == kind]


# Kinds whose pods come from a template (spec.template.spec); a Pod carries its spec itself.
POD_TEMPLATE_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "Job"}


def pod_spec(item: dict[str, Any]) -> dict[str, Any] | None:
    """The pod spec of a workload or a Pod; None for anything else."""
    if item["kind"] == "Pod":
        spec: dict[str, Any] = item["spec"]
        return spec
    if item["kind"] in POD_TEMPLATE_KINDS:
        template: dict[str, Any] = item["spec"]["template"]["spec"]
        return template
    return None


def containers(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every container of every pod the objects run, init containers too."""
    found = []
    for item in objects:
        spec = pod_spec(item)
        if spec is not None:
            found += spec.get("initContainers", []) + spec["containers"]
    return found
