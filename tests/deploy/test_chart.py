"""The Helm chart, checked without a cluster: lint, render, schema-validate, refuse bad values, and the operator's
policies over every rendered object (probes, resources, security, disruption budgets, network policies, ports)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from kubernetes_validate.utils import SchemaNotFoundError, ValidationError

from tests.deploy.chart import CHART, HELM3, VALUES_FILES, helm, objects_of, render, template_arguments

# The Prometheus operator's kinds, rendered behind switches: no Kubernetes schema has them.
KNOWN_CRDS = {("monitoring.coreos.com/v1", "ServiceMonitor"), ("monitoring.coreos.com/v1", "PrometheusRule")}
# The workloads and what runs them.
GRPC_SERVICES = ("customer", "order", "routing", "tracking", "flags", "migration")
DEPLOYABLES = ("gateway", *GRPC_SERVICES)
POD_KINDS = ("Deployment", "StatefulSet", "Job", "Pod")
OUR_IMAGE = "luckygas/platform"


@pytest.fixture(scope="module", params=list(VALUES_FILES), ids=list(VALUES_FILES))
def rendered(request: pytest.FixtureRequest) -> list[dict[str, Any]]:
    return render(VALUES_FILES[request.param])


def kubernetes_versions() -> list[str]:
    """The newest Kubernetes kubernetes-validate bundles, and the one three minor versions older."""
    newest = kubernetes_validate.latest_version()
    major, minor = (int(part) for part in newest.split(".")[:2])
    return [newest, f"{major}.{minor - 3}.0"]


def pod_spec(item: dict[str, Any]) -> dict[str, Any]:
    return item["spec"] if item["kind"] == "Pod" else item["spec"]["template"]["spec"]


def pod_labels(item: dict[str, Any]) -> dict[str, str]:
    return item["metadata"]["labels"] if item["kind"] == "Pod" else item["spec"]["template"]["metadata"]["labels"]


def workloads(objects: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    yield from (item for item in objects if item["kind"] in POD_KINDS)


def component(item: dict[str, Any]) -> str:
    return item["metadata"]["labels"]["app.kubernetes.io/component"]


def deployment(objects: list[dict[str, Any]], name: str) -> dict[str, Any]:
    (found,) = [item for item in objects_of(objects, "Deployment") if component(item) == name]
    return found


def env_of(container: dict[str, Any]) -> dict[str, Any]:
    return {entry["name"]: entry.get("value", entry.get("valueFrom")) for entry in container.get("env", [])}


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """Kubernetes' label selector semantics (matchLabels and the In/NotIn/Exists/DoesNotExist expressions)."""
    if any(labels.get(key) != value for key, value in selector.get("matchLabels", {}).items()):
        return False
    for expression in selector.get("matchExpressions", []):
        key, operator, values = expression["key"], expression["operator"], expression.get("values", [])
        held = {
            "In": key in labels and labels[key] in values,
            "NotIn": labels.get(key) not in values,
            "Exists": key in labels,
            "DoesNotExist": key not in labels,
        }[operator]
        if not held:
            return False
    return True


# --- lint, render, validate -------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(VALUES_FILES))
def test_helm_lint_strict(name: str) -> None:
    values = VALUES_FILES[name]
    arguments = ["lint", "--strict", str(CHART)] + (["--values", str(values)] if values else [])
    result = helm(*arguments, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("name", list(VALUES_FILES))
def test_helm_3_lints_and_renders_the_same_objects(name: str) -> None:
    values = VALUES_FILES[name]
    arguments = ["lint", "--strict", str(CHART)] + (["--values", str(values)] if values else [])
    linted = helm(*arguments, check=False, binary=HELM3)
    assert linted.returncode == 0, linted.stdout + linted.stderr
    rendered_by_3 = [
        item for item in yaml.safe_load_all(helm(*template_arguments(values), binary=HELM3).stdout) if item
    ]

    def names(objects: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
        return sorted((item["apiVersion"], item["kind"], item["metadata"]["name"]) for item in objects)

    assert names(rendered_by_3) == names(render(values))


@pytest.mark.parametrize("version", kubernetes_versions())
def test_every_rendered_object_validates_strictly(rendered: list[dict[str, Any]], version: str) -> None:
    problems = []
    for item in rendered:
        name = f"{item.get('kind')}/{item.get('metadata', {}).get('name')}"
        try:
            kubernetes_validate.validate(item, version, strict=True)
        except SchemaNotFoundError:
            if (item["apiVersion"], item["kind"]) not in KNOWN_CRDS:
                problems.append(f"{name}: no schema for {item['apiVersion']} {item['kind']} in Kubernetes {version}")
        except ValidationError as error:
            problems.append(f"{name}: {error.message} at {'/'.join(str(p) for p in error.path)}")
    assert not problems, "\n".join(problems)


def test_each_values_file_renders_what_it_promises() -> None:
    counts = {name: _kinds(render(values)) for name, values in VALUES_FILES.items()}
    # Default and kind: in-cluster stores, their Secret; production: neither, and the operator's objects.
    for name in ("default", "kind", "minimal"):
        assert counts[name]["StatefulSet"] == 2, name
        assert counts[name]["Secret"] == 1, name
    assert "StatefulSet" not in counts["production"]
    assert "Secret" not in counts["production"]
    assert counts["production"]["ServiceMonitor"] == len(DEPLOYABLES)
    assert counts["production"]["PrometheusRule"] == 1
    assert "NetworkPolicy" not in counts["minimal"]
    assert "HorizontalPodAutoscaler" not in counts["minimal"]
    for name, kinds in counts.items():
        assert kinds["Deployment"] == len(DEPLOYABLES), name
        assert kinds["Job"] == 1, name
        assert kinds["Pod"] == 1, name


def _kinds(objects: list[dict[str, Any]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for item in objects:
        counts[item["kind"]] = counts.get(item["kind"], 0) + 1
    return counts


# --- values the schema refuses ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "named"),
    [
        ({"deployables": {"gateway": {"replica": 3}}}, "replica"),
        ({"imagee": {"tag": "1"}}, "imagee"),
        ({"defaults": {"replicas": "two"}}, "/defaults/replicas"),
        ({"image": {"tag": "latest"}}, "/image/tag"),
        ({"deployables": {"order": {"calls": ["custmer"]}}}, "/deployables/order/calls"),
        ({"shutdown": {"drainSeconds": -1}}, "/shutdown/drainSeconds"),
        ({"deployables": {"gateway": {"service": {"type": "NodePort", "port": 80, "nodePort": 80}}}}, "nodePort"),
        ({"networkPolicy": {"enabled": "yes"}}, "/networkPolicy/enabled"),
        ({"defaults": {"env": {"DATABASE_URL": "x"}}}, "DATABASE_URL"),
    ],
)
def test_a_typo_or_a_wrong_type_is_refused_naming_the_field(values: dict[str, Any], named: str, tmp_path: Path) -> None:
    values_file = tmp_path / "values.yaml"
    values_file.write_text(yaml.safe_dump(values), encoding="utf-8")
    result = helm(*template_arguments(values_file), check=False)
    assert result.returncode != 0, f"accepted: {values}"
    assert "don't meet the specifications of the schema" in result.stderr
    assert named in result.stderr, result.stderr


def test_external_stores_without_urls_are_refused_with_the_value_to_set() -> None:
    result = helm(*template_arguments(settings={"postgres.enabled": "false"}), check=False)
    assert result.returncode != 0
    assert "externalDatabase.url is required" in result.stderr


# --- policies ---------------------------------------------------------------------------------------------------


def test_every_container_has_requests_limits_and_a_locked_down_security_context(
    rendered: list[dict[str, Any]],
) -> None:
    for item in workloads(rendered):
        spec = pod_spec(item)
        where = f"{item['kind']}/{item['metadata']['name']}"
        assert spec["automountServiceAccountToken"] is False, where
        pod_security = spec["securityContext"]
        assert pod_security["runAsNonRoot"] is True, where
        assert pod_security["runAsUser"] != 0, where
        assert pod_security["seccompProfile"] == {"type": "RuntimeDefault"}, where
        writable = {volume["name"] for volume in spec.get("volumes", []) if "emptyDir" in volume}
        for container in spec["containers"]:
            resources = container["resources"]
            for bound in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(resources[bound]), f"{where}: {bound} {resources}"
            security = container["securityContext"]
            assert security["allowPrivilegeEscalation"] is False, where
            assert security["readOnlyRootFilesystem"] is True, where
            assert security["capabilities"]["drop"] == ["ALL"], where
            assert "add" not in security["capabilities"], where
            assert security.get("privileged", False) is False, where
            mounts = {mount["mountPath"]: mount["name"] for mount in container.get("volumeMounts", [])}
            assert mounts.get("/tmp") in writable, f"{where}: /tmp is not an emptyDir"


def test_images_have_fixed_tags(rendered: list[dict[str, Any]]) -> None:
    for item in workloads(rendered):
        for container in pod_spec(item)["containers"]:
            image = container["image"]
            name, _, tag = image.rpartition(":") if "@" not in image else (image, "", "digest")
            assert name, image
            assert tag not in ("", "latest"), f"{item['metadata']['name']}: {image}"


def test_every_deployment_probes_what_it_serves(rendered: list[dict[str, Any]]) -> None:
    for name in DEPLOYABLES:
        (container,) = pod_spec(deployment(rendered, name))["containers"]
        ports = {port["name"]: port["containerPort"] for port in container["ports"]}
        probes = {kind: container[kind] for kind in ("startupProbe", "livenessProbe", "readinessProbe")}
        if name == "gateway":
            assert probes["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
            assert probes["startupProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
            assert probes["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
            assert "http" in ports
        else:
            for kind, probe in probes.items():
                assert probe["grpc"]["port"] == ports["grpc"], f"{name} {kind}"
        assert container["command"] == ["python", "-m", f"services.{name}", "serve"]


def test_shutdown_drains_before_the_grace_period_ends(rendered: list[dict[str, Any]]) -> None:
    for name in DEPLOYABLES:
        spec = pod_spec(deployment(rendered, name))
        (container,) = spec["containers"]
        pause = container["lifecycle"]["preStop"]["sleep"]["seconds"]
        drain = float(env_of(container)["LUCKYGAS_SHUTDOWN_GRACE_SECONDS"])
        assert pause > 0, name
        assert spec["terminationGracePeriodSeconds"] > pause + drain, name


def test_pods_spread_over_nodes_and_roll_on_a_config_change(rendered: list[dict[str, Any]]) -> None:
    for name in DEPLOYABLES:
        item = deployment(rendered, name)
        (spread,) = pod_spec(item)["topologySpreadConstraints"]
        assert spread["topologyKey"] == "kubernetes.io/hostname"
        assert selects(spread["labelSelector"], pod_labels(item))
        assert item["spec"]["template"]["metadata"]["annotations"]["checksum/config"]


def test_a_settings_change_changes_the_checksum() -> None:
    def checksums(settings: dict[str, str]) -> set[str]:
        deployments = objects_of(render(settings={"secrets.existingSecret": "given", **settings}), "Deployment")
        return {item["spec"]["template"]["metadata"]["annotations"]["checksum/config"] for item in deployments}

    assert checksums({"logLevel": "INFO"}) == checksums({"logLevel": "INFO"})
    assert checksums({"logLevel": "INFO"}) != checksums({"logLevel": "DEBUG"})


def test_a_disruption_budget_guards_every_workload_of_more_than_one_pod(rendered: list[dict[str, Any]]) -> None:
    autoscalers = {
        item["spec"]["scaleTargetRef"]["name"]: item for item in objects_of(rendered, "HorizontalPodAutoscaler")
    }
    budgets = objects_of(rendered, "PodDisruptionBudget")
    for item in objects_of(rendered, "Deployment"):
        name = item["metadata"]["name"]
        least = autoscalers[name]["spec"]["minReplicas"] if name in autoscalers else item["spec"]["replicas"]
        guarding = [budget for budget in budgets if selects(budget["spec"]["selector"], pod_labels(item))]
        assert len(guarding) == (1 if least > 1 else 0), name
        for budget in guarding:
            assert budget["spec"].get("maxUnavailable", 0) < least or budget["spec"].get("minAvailable", 0) < least


def test_gateway_and_tracking_autoscale_by_default() -> None:
    scaled = {item["spec"]["scaleTargetRef"]["name"] for item in objects_of(render(), "HorizontalPodAutoscaler")}
    assert scaled == {"luckygas-gateway", "luckygas-tracking"}


def test_every_service_port_points_at_a_container_port(rendered: list[dict[str, Any]]) -> None:
    pods = list(workloads(rendered))
    for service in objects_of(rendered, "Service"):
        selector = {"matchLabels": service["spec"]["selector"]}
        backing = [item for item in pods if item["kind"] in ("Deployment", "StatefulSet")]
        backing = [item for item in backing if selects(selector, pod_labels(item))]
        assert backing, f"Service {service['metadata']['name']} selects no pod"
        for item in backing:
            container_ports = [port for c in pod_spec(item)["containers"] for port in c.get("ports", [])]
            names = {port["name"] for port in container_ports}
            numbers = {port["containerPort"] for port in container_ports}
            for port in service["spec"]["ports"]:
                target = port["targetPort"]
                assert target in names or target in numbers, f"{service['metadata']['name']}: {target}"


def test_service_accounts_do_not_mount_api_tokens(rendered: list[dict[str, Any]]) -> None:
    accounts = objects_of(rendered, "ServiceAccount")
    assert accounts
    assert all(account["automountServiceAccountToken"] is False for account in accounts)
    names = {account["metadata"]["name"] for account in accounts}
    for item in workloads(rendered):
        account = pod_spec(item).get("serviceAccountName")
        assert account is None or account in names, f"{item['metadata']['name']} runs as a missing {account}"


def test_migrations_run_as_a_hook_after_what_they_need(rendered: list[dict[str, Any]]) -> None:
    (job,) = objects_of(rendered, "Job")
    annotations = job["metadata"]["annotations"]
    assert set(annotations["helm.sh/hook"].split(",")) == {"pre-install", "pre-upgrade"}
    (container,) = pod_spec(job)["containers"]
    assert container["command"][:4] == ["python", "-m", "services.jobs", "migrate"]
    job_weight = int(annotations["helm.sh/hook-weight"])
    # Everything the Job's pod needs exists before it: its Secret, its ServiceAccount, the in-cluster stores.
    for item in rendered:
        if item is job or item["kind"] == "Pod":
            continue
        hook = item["metadata"].get("annotations", {}).get("helm.sh/hook", "")
        account = item["kind"] == "ServiceAccount" and item["metadata"]["name"] == pod_spec(job)["serviceAccountName"]
        needed = item["kind"] in ("Secret", "StatefulSet") or account
        if needed:
            assert "pre-install" in hook, item["metadata"]["name"]
            assert int(item["metadata"]["annotations"]["helm.sh/hook-weight"]) < job_weight


def test_helm_test_logs_in_through_the_gateway(rendered: list[dict[str, Any]]) -> None:
    (pod,) = objects_of(rendered, "Pod")
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    (container,) = pod["spec"]["containers"]
    command = container["command"]
    assert command[:4] == ["python", "-m", "services.jobs", "smoke"]
    gateway = command[command.index("--gateway") + 1]
    (service,) = [s for s in objects_of(rendered, "Service") if component(s) == "gateway"]
    assert gateway == f"http://{service['metadata']['name']}:{service['spec']['ports'][0]['port']}"


@pytest.mark.parametrize(("name", "reach"), [("kind", "http://127.0.0.1:8080"), ("default", "port-forward")])
def test_the_notes_say_how_to_reach_the_gateway_and_log_in(name: str, reach: str) -> None:
    values = VALUES_FILES[name]
    arguments = ["install", "luckygas", str(CHART), "--namespace", "luckygas", "--dry-run=client"]
    notes = helm(*arguments, *(["--values", str(values)] if values else [])).stdout.split("NOTES:", 1)[1]
    assert reach in notes
    assert "get secret luckygas-secrets -o jsonpath='{.data.admin-password}'" in notes
    assert "/api/v1/auth/login" in notes
    assert "helm test luckygas" in notes


def test_scrape_annotations_name_the_metrics_port(rendered: list[dict[str, Any]]) -> None:
    for name in DEPLOYABLES:
        item = deployment(rendered, name)
        annotations = item["spec"]["template"]["metadata"]["annotations"]
        (container,) = pod_spec(item)["containers"]
        port = int(annotations["prometheus.io/port"])
        assert annotations["prometheus.io/scrape"] == "true"
        expected = "http" if name == "gateway" else "metrics"
        assert {p["name"]: p["containerPort"] for p in container["ports"]}[expected] == port


# --- network policies -------------------------------------------------------------------------------------------


def policies_selecting(objects: list[dict[str, Any]], labels: dict[str, str]) -> list[dict[str, Any]]:
    return [policy for policy in objects_of(objects, "NetworkPolicy") if selects(policy["spec"]["podSelector"], labels)]


@pytest.mark.parametrize("name", [name for name in VALUES_FILES if name != "minimal"])
def test_every_pod_is_under_a_default_deny_with_dns_egress(name: str) -> None:
    objects = render(VALUES_FILES[name])
    for item in workloads(objects):
        selecting = policies_selecting(objects, pod_labels(item))
        deny = [p for p in selecting if not p["spec"].get("ingress") and not p["spec"].get("egress")]
        assert deny, item["metadata"]["name"]
        assert set(deny[0]["spec"]["policyTypes"]) == {"Ingress", "Egress"}
        dns_ports = {
            (port["port"], port["protocol"])
            for policy in selecting
            for rule in policy["spec"].get("egress", [])
            for port in rule.get("ports", [])
        }
        assert {(53, "UDP"), (53, "TCP")} <= dns_ports, item["metadata"]["name"]


def ingress_sources(objects: list[dict[str, Any]], target: dict[str, Any], port: int) -> set[str]:
    """The components whose pods the NetworkPolicies let reach ``target``'s pods on ``port``."""
    pods = [item for item in workloads(objects)]
    allowed = set()
    for policy in policies_selecting(objects, pod_labels(target)):
        for rule in policy["spec"].get("ingress", []):
            if rule.get("ports") and port not in {p["port"] for p in rule["ports"]}:
                continue
            if "from" not in rule:
                return {"*"}
            for peer in rule["from"]:
                if set(peer) == {"podSelector"}:
                    allowed |= {component(item) for item in pods if selects(peer["podSelector"], pod_labels(item))}
                else:
                    allowed.add("<outside the release>")
    return allowed


def test_each_service_is_reachable_only_from_its_callers() -> None:
    objects = render()
    callers: dict[str, set[str]] = {name: set() for name in GRPC_SERVICES}
    # The real callers: whoever the chart gives the service's address to (the process reads it to call it).
    for name in DEPLOYABLES:
        (container,) = pod_spec(deployment(objects, name))["containers"]
        for variable in env_of(container):
            for service in GRPC_SERVICES:
                if variable == f"LUCKYGAS_{service.upper()}_ADDRESS" and name != service:
                    callers[service].add(name)
    for service in GRPC_SERVICES:
        grpc_port = 50051
        assert ingress_sources(objects, deployment(objects, service), grpc_port) == callers[service], service
    assert callers["flags"] == set(DEPLOYABLES) - {"flags"}
    assert ingress_sources(objects, deployment(objects, "gateway"), 8000) == {"*"}


def test_the_stores_are_reachable_only_from_the_platform() -> None:
    objects = render()
    platform = set(DEPLOYABLES) | {"migrate"}
    for store, port in (("postgres", 5432), ("redis", 6379)):
        (statefulset,) = [item for item in objects_of(objects, "StatefulSet") if component(item) == store]
        assert ingress_sources(objects, statefulset, port) == platform, store


def test_production_lets_only_the_ingress_controller_reach_the_gateway() -> None:
    objects = render(VALUES_FILES["production"])
    assert ingress_sources(objects, deployment(objects, "gateway"), 8000) == {"<outside the release>", "smoke-test"}
