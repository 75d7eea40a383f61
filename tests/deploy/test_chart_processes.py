"""The chart's containers really run: `helm template` with tests/deploy/values-local.yaml, then every container
as a local process with the command, arguments and environment the chart gives it, on the embedded Postgres and
Redis; probed exactly as its probes say; then one service is sent SIGTERM with a plan in flight.

Each pod gets a loopback address of its own, as a pod gets an IP (Linux routes all of 127.0.0.0/8 to lo), so every
process binds the very ports the chart declares: "0.0.0.0" becomes the pod's address, and a Service's DNS name and
port become its pod's address and target port, as cluster DNS and kube-proxy would make them. The external stores'
placeholder hosts become the embedded stores (their URLs' credentials too: the embedded Postgres trusts loopback),
keeping each URL's database. Secrets and ConfigMaps are read from the rendered objects; an environment source this
cannot resolve fails the test. A process gets what the image gives it (PATH, PYTHONUNBUFFERED, ...) and a private
/tmp, nothing of the developer's environment. Not reproduced: the image itself and its non-root user (the image's
own test runs it), resources and the NetworkPolicies.
"""

from __future__ import annotations

import base64
import os
import random
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import SplitResult, urlsplit

import grpc
import httpx
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from luckygas.routing.v1 import routing_pb2, routing_pb2_grpc
from prometheus_client.parser import text_string_to_metric_families

from services.local import stores
from services.platform import clock
from tests.conftest import running_stores
from tests.deploy.chart import NAMESPACE, objects_of, render
from tests.gateway.factories import customer_body

# Rendering, the stores, the migration Job and seven processes starting at once on two busy cores: minutes.
pytestmark = pytest.mark.timeout(900)

VALUES = Path(__file__).with_name("values-local.yaml")
# However short a startup probe's period × failureThreshold, a slow machine gets this long to start a process.
STARTUP_WALL_CLOCK_SECONDS = 240.0
# Readiness has no bound in Kubernetes (an unready pod just waits); here it gets as long as startup.
READINESS_WALL_CLOCK_SECONDS = 240.0
# The migration Job gets its activeDeadlineSeconds, but no more than this.
JOB_SECONDS = 600.0
SMOKE_SECONDS = 180.0
SERVICE_SUFFIXES = ("", f".{NAMESPACE}", f".{NAMESPACE}.svc", f".{NAMESPACE}.svc.cluster.local")
DEFAULT_PORTS = {"http": 80, "https": 443}
# The workload sent SIGTERM, and the plan it is solving meanwhile (the solver uses its whole time budget).
DRAINED = "routing"
PLAN_BUDGET_SECONDS = 5.0
STOPPING_HEALTH = ("NOT_SERVING", "CANCELLED", "UNAVAILABLE")
# Kubernetes' defaults for the fields a probe leaves out.
PROBE_DEFAULTS = {"periodSeconds": 10, "timeoutSeconds": 1, "failureThreshold": 3, "initialDelaySeconds": 0}


# --- the pods ------------------------------------------------------------------------------------------------------


@dataclass
class Pod:
    """One pod of the release: its spec as rendered, its address, and the process of its one container."""

    name: str
    address: str
    spec: dict[str, Any]
    directory: Path
    process: subprocess.Popen[bytes] | None = None
    started: float = 0.0

    @property
    def container(self) -> dict[str, Any]:
        (container,) = self.spec["containers"]
        return dict(container)

    @property
    def log(self) -> Path:
        return self.directory / "output.log"

    def port(self, port: int | str) -> int:
        """A port by number, or by the name the container gives it (as a probe or a Service's targetPort may)."""
        if isinstance(port, int):
            return port
        named = {entry["name"]: entry["containerPort"] for entry in self.container.get("ports", []) if "name" in entry}
        assert port in named, f"{self.name}: no container port named {port!r} (has {sorted(named)})"
        return int(named[port])

    def output(self, lines: int = 80) -> str:
        if not self.log.exists():
            return f"--- {self.name}: no output"
        tail = self.log.read_text(errors="replace").splitlines()[-lines:]
        return f"--- {self.name} ({self.log}), last {len(tail)} lines:\n" + "\n".join(tail)


def pod_spec(item: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = item["spec"] if item["kind"] == "Pod" else item["spec"]["template"]["spec"]
    return spec


def pod_labels(item: dict[str, Any]) -> dict[str, str]:
    metadata = item["metadata"] if item["kind"] == "Pod" else item["spec"]["template"]["metadata"]
    return dict(metadata.get("labels", {}))


def component(item: dict[str, Any]) -> str:
    return pod_labels(item)["app.kubernetes.io/component"]


def can_bind(address: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((address, port))
        except OSError:
            return False
        return True


def pod_subnet(ports: set[int], pods: int) -> str:
    """A /24 of 127.0.0.0/8 where every pod address can bind every port: random, so two runs at once do not meet."""
    chooser = random.SystemRandom()
    for _ in range(20):
        prefix = f"127.{chooser.randint(1, 254)}.{chooser.randint(0, 255)}."
        if all(can_bind(f"{prefix}{host}", port) for host in range(2, pods + 2) for port in ports):
            return prefix
    raise AssertionError(f"no loopback /24 where {pods} addresses can each bind ports {sorted(ports)}")


# --- what the cluster resolves ------------------------------------------------------------------------------------


def decoded_secrets(objects: list[dict[str, Any]]) -> dict[str, dict[str, str]]:
    found: dict[str, dict[str, str]] = {}
    for secret in objects_of(objects, "Secret"):
        data = {key: base64.b64decode(value).decode() for key, value in (secret.get("data") or {}).items()}
        found[secret["metadata"]["name"]] = {**data, **(secret.get("stringData") or {})}
    return found


def config_maps(objects: list[dict[str, Any]]) -> dict[str, dict[str, str]]:
    return {item["metadata"]["name"]: dict(item.get("data") or {}) for item in objects_of(objects, "ConfigMap")}


def referenced(sources: Mapping[str, Mapping[str, str]], reference: Mapping[str, Any], kind: str) -> str | None:
    """A key of a Secret or ConfigMap; None when it is missing and the reference is optional, else a failure."""
    values = sources.get(reference["name"])
    if values is None or reference["key"] not in values:
        assert reference.get("optional"), f"{kind} {reference['name']} has no key {reference['key']!r} rendered"
        return None
    return values[reference["key"]]


def container_settings(container: Mapping[str, Any], objects: list[dict[str, Any]]) -> dict[str, str]:
    """The container's environment as the kubelet makes it, from the rendered Secrets and ConfigMaps."""
    secrets, maps = decoded_secrets(objects), config_maps(objects)
    settings: dict[str, str] = {}
    for source in container.get("envFrom", []):
        prefix = source.get("prefix", "")
        if "secretRef" in source:
            values = secrets.get(source["secretRef"]["name"])
        elif "configMapRef" in source:
            values = maps.get(source["configMapRef"]["name"])
        else:
            raise AssertionError(f"envFrom source this test cannot resolve: {source}")
        reference = source.get("secretRef") or source.get("configMapRef") or {}
        assert values is not None or reference.get("optional"), f"envFrom {reference} is not rendered"
        settings.update({prefix + key: value for key, value in (values or {}).items()})
    for entry in container.get("env", []):
        name = entry["name"]
        source = entry.get("valueFrom")
        value: str | None
        if source is None:
            value = str(entry.get("value", ""))
        elif "secretKeyRef" in source:
            value = referenced(secrets, source["secretKeyRef"], "Secret")
        elif "configMapKeyRef" in source:
            value = referenced(maps, source["configMapKeyRef"], "ConfigMap")
        else:
            raise AssertionError(f"{name}: an environment source this test cannot resolve: {source}")
        if value is not None:
            assert "$(" not in value, f"{name}: $(VAR) expansion is not reproduced here: {value!r}"
            settings[name] = value
    return settings


@dataclass
class Network:
    """Cluster DNS and kube-proxy for the release: a Service (name, port) to its pod's address and target port; the
    external stores' placeholder hosts to the embedded stores' URLs."""

    services: dict[str, tuple[Pod, dict[int, int | str]]] = field(default_factory=dict)
    stores: dict[str, Callable[[SplitResult], str]] = field(default_factory=dict)

    def service(self, host: str) -> str | None:
        name, _, rest = host.partition(".")
        suffix = f".{rest}" if rest else ""
        return name if name in self.services and suffix in SERVICE_SUFFIXES else None

    def endpoint(self, host: str, port: int) -> str:
        name = self.service(host)
        assert name is not None, f"no Service {host}"
        pod, ports = self.services[name]
        assert port in ports, f"Service {name} has no port {port} (has {sorted(ports)})"
        return f"{pod.address}:{pod.port(ports[port])}"

    def resolve(self, value: str, own_address: str) -> str:
        """A setting or argument as the process sees it in the pod; names it cannot resolve fail."""
        resolved = self._resolve(value, own_address)
        unresolved = [name for name in (*self.services, *self.stores) if name in resolved]
        assert not unresolved, f"{value!r}: names {unresolved} left unresolved"
        return resolved

    def _resolve(self, value: str, own_address: str) -> str:
        if value == "0.0.0.0":  # every interface of the pod: its one address
            return own_address
        host_port = re.fullmatch(r"([a-z0-9.-]+):([0-9]+)", value)
        if host_port and self.service(host_port[1]):
            return self.endpoint(host_port[1], int(host_port[2]))
        parts = urlsplit(value)
        if parts.scheme and parts.hostname:
            if parts.hostname in self.stores:
                return self.stores[parts.hostname](parts)
            if self.service(parts.hostname):
                port = parts.port or DEFAULT_PORTS[parts.scheme]
                return parts._replace(netloc=self.endpoint(parts.hostname, port)).geturl()
        return value


def selected_pod(service: dict[str, Any], pods: list[Pod], labels: Mapping[str, dict[str, str]]) -> Pod:
    selector = service["spec"]["selector"]
    (pod,) = [pod for pod in pods if selector.items() <= labels[pod.name].items()]
    return pod


# --- running containers -------------------------------------------------------------------------------------------


def image_environment(pod: Pod) -> dict[str, str]:
    """What the image sets (Containerfile ENV), and a private /tmp as the pod's emptyDir is."""
    scratch = pod.directory / "tmp"
    scratch.mkdir(parents=True, exist_ok=True)
    return {
        "PATH": f"{Path(sys.executable).parent}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "VIRTUAL_ENV": sys.prefix,
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONUNBUFFERED": "1",
        "HOME": str(scratch),
        "TMPDIR": str(scratch),
    }


@dataclass
class Release:
    objects: list[dict[str, Any]]
    network: Network
    deployments: dict[str, Pod]
    jobs: dict[str, Pod]
    tests: dict[str, Pod]
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start(self, pod: Pod) -> subprocess.Popen[bytes]:
        """The container's command and arguments with its environment, in a process group of its own."""
        container = pod.container
        command = [*container.get("command", []), *container.get("args", [])]
        assert command[:1] == ["python"], f"{pod.name}: a command this test cannot run: {command}"
        arguments = [self.network.resolve(argument, pod.address) for argument in command[1:]]
        environment = image_environment(pod)
        for name, value in container_settings(container, self.objects).items():
            environment[name] = self.network.resolve(value, pod.address)
        with pod.log.open("wb") as log:
            pod.process = subprocess.Popen(
                [sys.executable, *arguments],
                cwd=pod.directory,
                env=environment,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        pod.started = time.monotonic()
        self.processes.append(pod.process)
        return pod.process

    def run_to_completion(self, pod: Pod, timeout: float) -> int:
        process = self.start(pod)
        try:
            return process.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"{pod.name} still running after {timeout:g} s\n{pod.output()}") from None
        finally:
            stop(process)

    def stop_all(self) -> None:
        for process in self.processes:
            stop(process)


def stop(process: subprocess.Popen[bytes]) -> None:
    """Kill the process's whole group (a Job's children too) unless it has exited, and reap it."""
    if process.poll() is None:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
    with suppress(subprocess.TimeoutExpired):
        process.wait(30)


# --- probes -------------------------------------------------------------------------------------------------------


def probe_setting(probe: Mapping[str, Any], name: str) -> float:
    return float(probe.get(name, PROBE_DEFAULTS[name]))


def grpc_health(target: str, service: str, timeout: float) -> str:
    """The grpc.health.v1 status name of ``service`` at ``target``, or the RPC's error code name."""
    with grpc.insecure_channel(target) as channel:
        try:
            reply = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=service), timeout=timeout
            )
        except grpc.RpcError as error:
            return f"{error.code().name}: {error.details()}"
    return str(health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status))


def probe_once(pod: Pod, probe: Mapping[str, Any]) -> str | None:
    """None when the probe succeeds, else what it saw; the way the kubelet runs each kind of probe."""
    timeout = probe_setting(probe, "timeoutSeconds")
    if "grpc" in probe:
        target = f"{pod.address}:{int(probe['grpc']['port'])}"
        status = grpc_health(target, probe["grpc"].get("service", ""), timeout)
        return None if status == "SERVING" else f"gRPC health of {target}: {status}"
    if "httpGet" in probe:
        action = probe["httpGet"]
        scheme = action.get("scheme", "HTTP").lower()
        url = f"{scheme}://{action.get('host', pod.address)}:{pod.port(action['port'])}{action.get('path', '/')}"
        headers = {header["name"]: header["value"] for header in action.get("httpHeaders", [])}
        try:
            answer = httpx.get(url, headers=headers, timeout=timeout, follow_redirects=False, trust_env=False)
        except httpx.HTTPError as error:
            return f"GET {url}: {type(error).__name__}: {error}"
        return None if 200 <= answer.status_code < 400 else f"GET {url}: {answer.status_code}"
    if "tcpSocket" in probe:
        port = pod.port(probe["tcpSocket"]["port"])
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as connection:
            connection.settimeout(timeout)
            return None if connection.connect_ex((pod.address, port)) == 0 else f"no connection to {port}"
    raise AssertionError(f"{pod.name}: a probe this test cannot run: {probe}")


def await_probe(pod: Pod, kind: str, wall_clock: float) -> float:
    """Run the probe every period until it succeeds; fail after max(its own bound, ``wall_clock``) seconds since
    the process started, or when the process exits. Returns the seconds since start it took."""
    probe = pod.container[kind]
    period = probe_setting(probe, "periodSeconds")
    own_bound = probe_setting(probe, "initialDelaySeconds") + period * probe_setting(probe, "failureThreshold")
    deadline = pod.started + max(own_bound, wall_clock)
    assert pod.process is not None
    while True:
        outcome = probe_once(pod, probe)
        if outcome is None:
            return time.monotonic() - pod.started
        if pod.process.poll() is not None:
            raise AssertionError(
                f"{pod.name} exited with {pod.process.returncode} before its {kind} passed\n{pod.output()}"
            )
        if time.monotonic() > deadline:
            raise AssertionError(
                f"{pod.name}: {kind} still failing after {max(own_bound, wall_clock):g} s: {outcome}\n{pod.output()}"
            )
        time.sleep(period)


def passes_within_its_threshold(pod: Pod, kind: str) -> list[str]:
    """The probe as the kubelet judges a running container: it fails only after failureThreshold failures in a
    row, a period apart. Returns the failures seen before it succeeded; an AssertionError when it failed."""
    probe = pod.container[kind]
    failures: list[str] = []
    for _ in range(int(probe_setting(probe, "failureThreshold"))):
        outcome = probe_once(pod, probe)
        if outcome is None:
            return failures
        failures.append(outcome)
        time.sleep(probe_setting(probe, "periodSeconds"))
    raise AssertionError(f"{pod.name}: {kind} failed {len(failures)} times in a row: {failures}\n{pod.output()}")


# --- fixtures -----------------------------------------------------------------------------------------------------


@dataclass
class EmbeddedStores:
    postgres_port: int
    redis_port: int


@pytest.fixture(scope="module")
def embedded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedStores]:
    """A Postgres and a Redis of this module's own (the chart's processes must not share the suite's)."""
    with running_stores(tmp_path_factory.mktemp("stores")) as (postgres_port, redis_port):
        yield EmbeddedStores(postgres_port, redis_port)


def store_hosts(objects: list[dict[str, Any]], embedded: EmbeddedStores) -> dict[str, Callable[[SplitResult], str]]:
    """The hosts of the database and Redis URLs in the rendered Secrets, each to its embedded store, and every
    database those URLs name created (fresh: the module's Postgres is its own)."""
    hosts: dict[str, Callable[[SplitResult], str]] = {}
    postgres_netloc = f"{stores.POSTGRES_USER}@127.0.0.1:{embedded.postgres_port}"
    redis_netloc = f"127.0.0.1:{embedded.redis_port}"
    for values in decoded_secrets(objects).values():
        for value in values.values():
            parts = urlsplit(value)
            if parts.hostname is None:
                continue
            if parts.scheme.startswith("postgres"):
                stores.create_database(embedded.postgres_port, parts.path.strip("/"))
                hosts[parts.hostname] = lambda url: url._replace(netloc=postgres_netloc).geturl()
            elif parts.scheme in ("redis", "rediss"):
                hosts[parts.hostname] = lambda url: url._replace(scheme="redis", netloc=redis_netloc).geturl()
    assert hosts, "no database or Redis URL rendered into a Secret"
    return hosts


@pytest.fixture(scope="module")
def release(tmp_path_factory: pytest.TempPathFactory, embedded: EmbeddedStores) -> Iterator[Release]:
    """The rendered release, its pods addressed, nothing started yet; every process it starts is killed after."""
    objects = render(VALUES)
    root = tmp_path_factory.mktemp("pods")
    workloads = {
        "Deployment": objects_of(objects, "Deployment"),
        "Job": objects_of(objects, "Job"),
        "Pod": objects_of(objects, "Pod"),
    }
    every = [item for items in workloads.values() for item in items]
    deployment_ports = {
        int(port["containerPort"])
        for item in workloads["Deployment"]
        for container in pod_spec(item)["containers"]
        for port in container.get("ports", [])
    }
    prefix = pod_subnet(deployment_ports, len(every))
    pods: dict[str, Pod] = {}
    for host, item in enumerate(every, start=2):
        name = component(item)
        (root / name).mkdir()
        pods[name] = Pod(name, f"{prefix}{host}", pod_spec(item), root / name)
    labels = {component(item): pod_labels(item) for item in every}
    network = Network(stores=store_hosts(objects, embedded))
    deployed = [pods[component(item)] for item in workloads["Deployment"]]
    for service in objects_of(objects, "Service"):
        pod = selected_pod(service, deployed, labels)
        ports = {int(port["port"]): port.get("targetPort", port["port"]) for port in service["spec"]["ports"]}
        network.services[service["metadata"]["name"]] = (pod, ports)
    running = Release(
        objects,
        network,
        deployments={pod.name: pod for pod in deployed},
        jobs={component(item): pods[component(item)] for item in workloads["Job"]},
        tests={component(item): pods[component(item)] for item in workloads["Pod"]},
    )
    try:
        yield running
    finally:
        running.stop_all()


@pytest.fixture(scope="module")
def started(release: Release) -> Release:
    """The migration Job first (Helm runs it as a pre-install hook: a failure fails the install), then every
    Deployment's container at once, in no order, as Kubernetes starts pods: their probes decide."""
    (job,) = release.jobs.values()
    began = time.monotonic()
    job_spec = next(item for item in objects_of(release.objects, "Job") if component(item) == job.name)["spec"]
    exit_code = release.run_to_completion(job, min(float(job_spec["activeDeadlineSeconds"]), JOB_SECONDS))
    assert exit_code == 0, f"the migration Job exited with {exit_code}\n{job.output()}"
    print(f"\nmigration Job: exit 0 in {time.monotonic() - began:.1f} s")
    for pod in release.deployments.values():
        release.start(pod)
    return release


@pytest.fixture(scope="module")
def ready(started: Release) -> Release:
    """Every workload past its startup probe and ready."""
    for pod in started.deployments.values():
        await_probe(pod, "startupProbe", STARTUP_WALL_CLOCK_SECONDS)
        await_probe(pod, "readinessProbe", READINESS_WALL_CLOCK_SECONDS)
    return started


# --- the tests ----------------------------------------------------------------------------------------------------


def test_what_a_pod_would_get_from_a_source_or_a_name_this_cannot_resolve_fails_the_run() -> None:
    secret = {"kind": "Secret", "metadata": {"name": "s"}, "data": {"k": base64.b64encode(b"v").decode()}}
    from_secret = {"secretKeyRef": {"name": "s", "key": "k"}}
    assert container_settings({"env": [{"name": "A", "valueFrom": from_secret}]}, [secret]) == {"A": "v"}
    for source in ({"fieldRef": {"fieldPath": "status.podIP"}}, {"secretKeyRef": {"name": "s", "key": "other"}}):
        with pytest.raises(AssertionError):
            container_settings({"env": [{"name": "A", "valueFrom": source}]}, [secret])
    pod = Pod("customer", "127.0.0.2", {"containers": [{"ports": [{"name": "grpc", "containerPort": 50051}]}]}, Path())
    network = Network(services={"luckygas-customer": (pod, {50051: "grpc"})})
    assert network.resolve("luckygas-customer.luckygas.svc:50051", "127.0.0.3") == "127.0.0.2:50051"
    for unresolvable in ("luckygas-customer:80", "http://luckygas-customer/", "luckygas-customer.elsewhere:50051"):
        with pytest.raises(AssertionError):
            network.resolve(unresolvable, "127.0.0.3")


def test_every_workload_starts_then_is_ready_and_live_as_its_probes_say(started: Release) -> None:
    assert sorted(started.deployments) == ["customer", "flags", "gateway", "migration", "order", "routing", "tracking"]
    timings = []
    for pod in started.deployments.values():
        startup = await_probe(pod, "startupProbe", STARTUP_WALL_CLOCK_SECONDS)
        readiness = await_probe(pod, "readinessProbe", READINESS_WALL_CLOCK_SECONDS)
        slips = passes_within_its_threshold(pod, "livenessProbe")
        timings.append(f"{pod.name} {pod.address}: started {startup:.1f} s, ready {readiness:.1f} s, live ({slips=})")
    print("\n" + "\n".join(timings))


def test_every_declared_container_port_is_served_and_metrics_are_where_the_annotations_say(ready: Release) -> None:
    for item in objects_of(ready.objects, "Deployment"):
        pod = ready.deployments[component(item)]
        for port in pod.container["ports"]:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as connection:
                connection.settimeout(10)
                assert connection.connect_ex((pod.address, port["containerPort"])) == 0, (pod.name, port)
        annotations = item["spec"]["template"]["metadata"]["annotations"]
        assert annotations["prometheus.io/scrape"] == "true"
        url = f"http://{pod.address}:{annotations['prometheus.io/port']}{annotations['prometheus.io/path']}"
        scraped = httpx.get(url, timeout=30, trust_env=False)
        assert scraped.status_code == 200, (url, scraped.status_code)
        assert "process_cpu_seconds_total" in scraped.text, url


def test_the_helm_test_pod_logs_in_through_the_gateway_service_and_reads_a_customer(
    ready: Release, office_day: OfficeDay
) -> None:
    (smoke,) = ready.tests.values()
    exit_code = ready.run_to_completion(smoke, SMOKE_SECONDS)
    assert exit_code == 0, f"the helm test pod exited with {exit_code}\n{smoke.output()}"
    assert f"logged in as admin; read customer {office_day.customer_id}" in smoke.log.read_text(), smoke.output()


# --- SIGTERM with a plan in flight --------------------------------------------------------------------------------


def gateway_call(client: httpx.Client, method: str, path: str, **arguments: Any) -> dict[str, Any]:
    """One office request; retried on 502-504 (the gateway's 2 s deadline on a busy machine): every request here
    is idempotent."""
    deadline = time.monotonic() + 120
    while True:
        answer = client.request(method, path, **arguments)
        if answer.status_code not in (502, 503, 504) or time.monotonic() > deadline:
            assert answer.is_success, f"{method} {path}: {answer.status_code} {answer.text}"
            body: dict[str, Any] = answer.json()
            return body
        time.sleep(1)


@dataclass
class OfficeDay:
    """Tomorrow as the office set it up: a vehicle with a shift, a customer and its confirmed order."""

    day: str
    customer_id: str
    order_id: str


def confirmed_order_with_a_shift(client: httpx.Client, day: str) -> OfficeDay:
    """A vehicle with a shift on ``day``, a customer and a confirmed order for it then."""
    plate = "KLA-0001"
    gateway_call(
        client,
        "PUT",
        f"/api/v1/fleet/vehicles/{plate}",
        json={"kind": "small_truck", "capacity": {"20": 30}, "max_load_kg": 1000, "depot_code": "taitung"},
    )
    gateway_call(client, "PUT", f"/api/v1/fleet/shifts/{day}/{plate}", json={"driver": "driver01"})
    customer = gateway_call(
        client,
        "POST",
        "/api/v1/customers",
        headers={"Idempotency-Key": "chart-processes-customer"},
        json=customer_body(
            code="8000001",
            short_name="部署測試早餐店",
            invoice_title="部署測試早餐店",
            address="台東市四維路二段80號",
            # Delivered any day, by any vehicle: the plan is for tomorrow, whatever day that is.
            rest_days="",
            vehicle_requirement="either",
            cylinders={"cylinder-20-regular": 2},
            payment_terms="cash",
            credit_limit=0,
        ),
    )
    order = gateway_call(
        client,
        "POST",
        "/api/v1/orders",
        headers={"Idempotency-Key": f"chart-processes-order-{day}"},
        json={
            "customer_id": customer["id"],
            "scheduled_date": day,
            "window": {"start": "08:00", "end": "18:00"},
            "items": [{"product": "cylinder-20-regular", "quantity": 1}],
            "payment_method": "cash",
        },
    )
    if order["status"] == "pending":
        order = gateway_call(client, "POST", f"/api/v1/orders/{order['id']}/confirm")
    assert order["status"] == "confirmed", order
    return OfficeDay(day, str(customer["id"]), str(order["id"]))


@pytest.fixture(scope="module")
def office_day(ready: Release) -> OfficeDay:
    """Through the gateway's Service as the office would, logged in as the admin the migration Job bootstrapped
    (with the password the helm test pod uses)."""
    (smoke,) = ready.tests.values()
    admin_password = container_settings(smoke.container, ready.objects)["LUCKYGAS_SMOKE_PASSWORD"]
    # The processes run on the machine's clock (a pod gets no LUCKYGAS_CLOCK_OFFSET_SECONDS, whatever --clock-at).
    day = (clock.taipei_date(clock.moved_by(0)) + timedelta(days=1)).isoformat()
    gateway = f"http://{ready.network.endpoint('luckygas-gateway', 80)}"
    with httpx.Client(base_url=gateway, timeout=60, trust_env=False) as client:
        login = gateway_call(
            client, "POST", "/api/v1/auth/login", json={"username": "admin", "password": admin_password}
        )
        client.headers["Authorization"] = f"Bearer {login['access_token']}"
        return confirmed_order_with_a_shift(client, day)


def straight_line_matrices(pod: Pod, metrics_port: int) -> float:
    """How many travel matrices the routing process computed, from its /metrics (a plan's last step before the
    solver runs for its whole time budget)."""
    scraped = httpx.get(f"http://{pod.address}:{metrics_port}/metrics", timeout=10, trust_env=False).text
    for family in text_string_to_metric_families(scraped):
        for sample in family.samples:
            if sample.name == "luckygas_routing_travel_requests_total" and sample.labels == {
                "source": "straight_line",
                "outcome": "ok",
            }:
                return float(sample.value)
    return 0.0


@dataclass
class Drain:
    """What was seen after SIGTERM: when health stopped serving and whether the plan was still in flight then, the
    plan's outcome, the exit code and when it came."""

    order_id: str
    health_after_sigterm: str
    health_down_seconds: float
    plan_in_flight_when_health_went_down: bool
    plan: routing_pb2.Plan | None
    plan_error: str
    exit_code: int | None
    exit_seconds: float
    exit_bound_seconds: float


@pytest.fixture(scope="module")
def drained(ready: Release, office_day: OfficeDay) -> Drain:
    """SIGTERM to the routing process while it solves a plan with a time budget of a few seconds.

    In Kubernetes the preStop sleep comes first (endpoints are removed meanwhile), then SIGTERM, and the grace
    period counts from the start of preStop: the process has grace - preStop seconds after SIGTERM. Nothing reaches
    the process during the sleep, so it is not waited out here; the exit is held to grace - preStop instead.
    """
    pod = ready.deployments[DRAINED]
    assert pod.process is not None
    grace = float(pod.spec["terminationGracePeriodSeconds"])
    pre_stop = float(pod.container["lifecycle"]["preStop"]["sleep"]["seconds"])
    deployment = next(item for item in objects_of(ready.objects, "Deployment") if component(item) == DRAINED)
    metrics_port = int(deployment["spec"]["template"]["metadata"]["annotations"]["prometheus.io/port"])
    channel = grpc.insecure_channel(ready.network.endpoint(f"luckygas-{DRAINED}", 50051))
    try:
        before = straight_line_matrices(pod, metrics_port)
        plan_call = routing_pb2_grpc.RoutingServiceStub(channel).PlanDay.future(
            routing_pb2.PlanDayRequest(
                date=office_day.day,
                time_budget_seconds=PLAN_BUDGET_SECONDS,
                request_id="chart-processes",
                actor="admin",
            ),
            timeout=120,
        )
        deadline = time.monotonic() + 60
        while straight_line_matrices(pod, metrics_port) <= before:
            assert not plan_call.done(), f"the plan ended before it was solved: {plan_call.exception()}"
            assert time.monotonic() < deadline, f"no travel matrix after 60 s\n{pod.output()}"
            time.sleep(0.05)

        pod.process.send_signal(signal.SIGTERM)
        terminated = time.monotonic()
        target = f"{pod.address}:{pod.container['readinessProbe']['grpc']['port']}"
        while (health := grpc_health(target, "", 3)) == "SERVING":
            assert time.monotonic() - terminated < 60, "health still SERVING 60 s after SIGTERM"
            time.sleep(0.05)
        health_down = time.monotonic() - terminated
        in_flight = not plan_call.done()

        plan: routing_pb2.Plan | None = None
        error = ""
        try:
            plan = plan_call.result()
        except grpc.RpcError as failure:
            error = f"{failure.code().name}: {failure.details()}"
    finally:
        channel.close()

    bound = grace - pre_stop
    try:
        exit_code: int | None = pod.process.wait(bound - (time.monotonic() - terminated))
    except subprocess.TimeoutExpired:
        exit_code = None
    exited = time.monotonic() - terminated
    print(
        f"\n{DRAINED}: health {health!r} {health_down:.2f} s after SIGTERM (plan in flight: {in_flight}); "
        f"plan {'ok' if plan else error}; exit {exit_code} after {exited:.1f} s (bound {bound:g} s)"
    )
    return Drain(office_day.order_id, health, health_down, in_flight, plan, error, exit_code, exited, bound)


def test_a_terminated_service_stops_serving_health_and_finishes_its_in_flight_plan(
    drained: Drain, ready: Release
) -> None:
    pod = ready.deployments[DRAINED]
    # What a stopping grpc.aio server answers a new health check, depending on the instant: NOT_SERVING (health
    # flipped, server still accepting), CANCELLED (accepted while it stops), UNAVAILABLE (listener closed). A
    # probe fails on each; a timeout would mean a stuck process instead.
    assert drained.health_after_sigterm.startswith(STOPPING_HEALTH), drained
    assert drained.plan_in_flight_when_health_went_down, drained
    assert drained.plan is not None, f"the in-flight plan failed: {drained.plan_error}\n{pod.output()}"
    assert [stop.order_id for route in drained.plan.routes for stop in route.stops] == [drained.order_id]


def test_a_terminated_service_exits_0_within_its_grace_period_after_pre_stop(drained: Drain, ready: Release) -> None:
    pod = ready.deployments[DRAINED]
    assert drained.exit_code == 0, (
        f"exit code {drained.exit_code} after {drained.exit_seconds:.1f} s (bound {drained.exit_bound_seconds:g} s)"
        f"\n{pod.output()}"
    )


def test_the_gateway_stays_ready_and_live_while_a_service_it_calls_is_gone(drained: Drain, ready: Release) -> None:
    assert ready.deployments[DRAINED].process is not None
    assert ready.deployments[DRAINED].process.poll() is not None, "the routing process still runs"
    gateway = ready.deployments["gateway"]
    passes_within_its_threshold(gateway, "readinessProbe")
    passes_within_its_threshold(gateway, "livenessProbe")
