"""What every bench shares: its processes in a temp dir, set-up steps, readiness, login and CPU accounting."""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import signal
import string
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import NoReturn, TypeVar

import httpx

from services.local import stores
from services.local.readiness import GrpcHealthCheck
from services.local.stores import ProcessSpec, RunningProcess

REPOSITORY = Path(__file__).resolve().parent.parent
READY_SECONDS = 60.0
STEP_SECONDS = 300.0
LOG_TAIL_LINES = 30

Measured = TypeVar("Measured")


class BenchError(Exception):
    """Something real went wrong (not a slow figure): the run reports it and exits non-zero."""


class Platform:
    """The processes of one bench run; ``stop`` ends them in reverse start order."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.processes: dict[str, RunningProcess] = {}

    def start(self, name: str, spec: ProcessSpec) -> RunningProcess:
        running = RunningProcess(spec, self.root / f"{name}.log")
        self.processes[name] = running
        return running

    def stop(self) -> None:
        for running in reversed(list(self.processes.values())):
            running.stop()

    def check_alive(self) -> None:
        for name, running in self.processes.items():
            code = running.process.poll()
            if code is not None:
                raise BenchError(f"{name} exited with {code}\n{self.log_tail(name)}")

    def log_tail(self, name: str) -> str:
        path = self.root / f"{name}.log"
        if not path.exists():
            return f"({path} is missing)"
        lines = path.read_text(errors="replace").splitlines()[-LOG_TAIL_LINES:]
        return f"--- last lines of {path} ---\n" + "\n".join(lines)


def python_module(module: str, *arguments: str) -> list[str]:
    return [sys.executable, "-m", module, *arguments]


def run_step(root: Path, environment: dict[str, str], module: str, *arguments: str) -> str:
    """Run one set-up command to completion; its output goes to setup.log and is returned."""
    command = python_module(module, *arguments)
    completed = subprocess.run(  # nosec B603 # argv is this interpreter running one of our modules, no shell
        command,
        env={**os.environ, **environment},
        cwd=REPOSITORY,
        capture_output=True,
        text=True,
        timeout=STEP_SECONDS,
        check=False,
    )
    output = completed.stdout + completed.stderr
    with (root / "setup.log").open("a") as log:
        log.write(f"$ {' '.join(command[1:])}\n{output}\n")
    if completed.returncode != 0:
        raise BenchError(f"`{' '.join(command[1:])}` exited with {completed.returncode}:\n{output[-4000:]}")
    return output.strip()


def wait_ready(platform: Platform, name: str, url: str) -> None:
    deadline = time.monotonic() + READY_SECONDS
    last = "no answer yet"
    while time.monotonic() < deadline:
        platform.check_alive()
        try:
            response = httpx.get(url, timeout=2.0)
        except httpx.HTTPError as error:
            last = repr(error)
        else:
            if response.status_code == 200:
                return
            last = f"{response.status_code} {response.text[:300]}"
        time.sleep(0.2)
    raise BenchError(f"{name} was not ready within {READY_SECONDS:.0f}s ({url}: {last})\n{platform.log_tail(name)}")


def wait_grpc_ready(platform: Platform, name: str, port: int) -> None:
    check = GrpcHealthCheck("127.0.0.1", port)
    deadline = time.monotonic() + READY_SECONDS
    last = "not probed yet"
    while time.monotonic() < deadline:
        platform.check_alive()
        reason = check.probe()
        if reason is None:
            return
        last = reason
        time.sleep(0.2)
    raise BenchError(f"{name} was not ready within {READY_SECONDS:.0f}s ({last})\n{platform.log_tail(name)}")


def login(gateway: str, password: str) -> str:
    response = httpx.post(
        f"{gateway}/api/v1/auth/login", json={"username": "dispatcher", "password": password}, timeout=10.0
    )
    if response.status_code != 200:
        raise BenchError(f"login as dispatcher answered {response.status_code}: {response.text[:500]}")
    return str(response.json()["access_token"])


# --- The platform: stores and services as `luckygas up` runs them, throw-away data ------------------------------


@dataclass(frozen=True)
class Running:
    """Where the started platform answers and what its processes were given."""

    ports: dict[str, int]
    environment: dict[str, str]
    password: str

    @property
    def gateway(self) -> str:
        return f"http://127.0.0.1:{self.ports['gateway']}"


def start_platform(
    platform: Platform,
    database: str,
    *,
    refill_history: bool,
    extra_ports: tuple[str, ...] = (),
    durable_postgres: bool = False,
) -> Running:
    """Postgres, Redis, then the flag, customer, order, routing, tracking and gateway services, migrated and
    seeded with the demo data.

    The data is thrown away, so Postgres runs with fsync and synchronous commit off unless ``durable_postgres``
    (commits then wait for the disk, as in production) and Redis without persistence. The gateway's readiness
    covers every service, so every bench starts them all, even one that reads only customers.
    ``refill_history`` also seeds the order service's demo refill history; ``extra_ports`` reserves more free
    ports for the caller.
    """
    names = (
        "postgres",
        "redis",
        "flags_grpc",
        "flags_metrics",
        "customer_grpc",
        "customer_metrics",
        "order_grpc",
        "order_metrics",
        "routing_grpc",
        "routing_metrics",
        "tracking_grpc",
        "tracking_metrics",
        "gateway",
    )
    ports = {name: stores.free_port() for name in (*names, *extra_ports)}
    root = platform.root
    postgres_spec = stores.prepare_postgres(root / "pg", ports["postgres"], durable=durable_postgres)
    postgres = platform.start("postgres", postgres_spec)
    redis = platform.start("redis", stores.redis_spec(root / "redis", ports["redis"], durable=False))
    stores.wait_for_port(ports["postgres"], 30, postgres.process)
    stores.wait_for_port(ports["redis"], 10, redis.process)
    stores.create_database(ports["postgres"], database)

    password = os.environ.get("LUCKYGAS_DEMO_PASSWORD", "luckygas-demo")
    alphabet = string.ascii_letters + string.digits
    environment = {
        "LUCKYGAS_ENVIRONMENT": "development",
        "LUCKYGAS_DATABASE_URL": stores.postgres_url(ports["postgres"], database),
        "LUCKYGAS_REDIS_URL": stores.redis_url(ports["redis"]),
        "LUCKYGAS_FLAGS_GRPC_PORT": str(ports["flags_grpc"]),
        "LUCKYGAS_FLAGS_METRICS_PORT": str(ports["flags_metrics"]),
        "LUCKYGAS_FLAGS_ADDRESS": f"127.0.0.1:{ports['flags_grpc']}",
        "LUCKYGAS_CUSTOMER_GRPC_PORT": str(ports["customer_grpc"]),
        "LUCKYGAS_CUSTOMER_METRICS_PORT": str(ports["customer_metrics"]),
        "LUCKYGAS_CUSTOMER_ADDRESS": f"127.0.0.1:{ports['customer_grpc']}",
        "LUCKYGAS_ORDER_GRPC_PORT": str(ports["order_grpc"]),
        "LUCKYGAS_ORDER_METRICS_PORT": str(ports["order_metrics"]),
        "LUCKYGAS_ORDER_ADDRESS": f"127.0.0.1:{ports['order_grpc']}",
        "LUCKYGAS_ROUTING_GRPC_PORT": str(ports["routing_grpc"]),
        "LUCKYGAS_ROUTING_METRICS_PORT": str(ports["routing_metrics"]),
        "LUCKYGAS_ROUTING_ADDRESS": f"127.0.0.1:{ports['routing_grpc']}",
        "LUCKYGAS_TRACKING_GRPC_PORT": str(ports["tracking_grpc"]),
        "LUCKYGAS_TRACKING_METRICS_PORT": str(ports["tracking_metrics"]),
        "LUCKYGAS_TRACKING_ADDRESS": f"127.0.0.1:{ports['tracking_grpc']}",
        "LUCKYGAS_GATEWAY_PORT": str(ports["gateway"]),
        "LUCKYGAS_JWT_SECRET": "".join(secrets.choice(alphabet) for _ in range(48)),
        "LUCKYGAS_DEMO_PASSWORD": password,
    }
    seeds = "customers, users and refill history" if refill_history else "customers and users"
    print(f"setting up: migrate, seed demo {seeds} …", flush=True)
    for service in ("flags", "customer", "order", "routing", "tracking", "gateway"):
        run_step(root, environment, f"services.{service}", "migrate")
    print("  " + run_step(root, environment, "services.customer", "seed", "--seed", "demo").splitlines()[-1])
    print("  " + run_step(root, environment, "services.gateway", "seed").splitlines()[-1])
    print("  " + run_step(root, environment, "services.routing", "seed", "--seed", "demo").splitlines()[-1])
    print("  " + run_step(root, environment, "services.tracking", "seed", "--seed", "demo").splitlines()[-1])

    def serve(module: str) -> ProcessSpec:
        return ProcessSpec(argv=python_module(module, "serve"), environment=environment)

    # First, as `luckygas up` starts it: every service watches its flags and the gateway administers them.
    platform.start("flags", serve("services.flags"))
    wait_grpc_ready(platform, "flags", ports["flags_grpc"])
    platform.start("customer", serve("services.customer"))
    if refill_history:
        # With the customer service up, the seed applies at once instead of when the order service starts.
        wait_grpc_ready(platform, "customer", ports["customer_grpc"])
        print("  " + run_step(root, environment, "services.order", "seed", "--seed", "demo").splitlines()[-1])
    platform.start("order", serve("services.order"))
    platform.start("routing", serve("services.routing"))
    platform.start("tracking", serve("services.tracking"))
    platform.start("gateway", serve("services.gateway"))
    running = Running(ports, environment, password)
    wait_ready(platform, "gateway", f"{running.gateway}/readyz")
    return running


# --- CPU accounting: which process burned the shared cores during a round (Linux /proc; empty elsewhere) -------


def _stat_fields(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name may hold spaces; fields after it are space separated (state is field 3).
    return text[text.rindex(")") + 2 :].split()


def tree_cpu_seconds(root_pid: int) -> float:
    """User + system CPU of a process and its descendants (Postgres backends are children).

    A process's cutime/cstime hold the CPU of the children it reaped, so backends that ended between two
    snapshots are still counted and the difference never goes negative.
    """
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat_fields(int(entry.name))
            if fields is not None:
                children.setdefault(int(fields[1]), []).append(int(entry.name))
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    pending = [root_pid]
    while pending:
        pid = pending.pop()
        fields = _stat_fields(pid)
        if fields is not None:
            total += sum(int(value) for value in fields[11:15])  # utime, stime, cutime, cstime
        pending.extend(children.get(pid, []))
    return total / ticks


def cpu_snapshot(platform: Platform, names: list[str]) -> dict[str, float]:
    if not Path("/proc/self/stat").exists():
        return {}
    return {name: tree_cpu_seconds(platform.processes[name].process.pid) for name in names}


# --- Running a bench ----------------------------------------------------------------------------------------------


@contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM unwinds like Ctrl-C, so the finally blocks stop every process."""

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run_bench(
    name: str,
    arguments: argparse.Namespace,
    measure: Callable[[Path, Platform, argparse.Namespace], Measured],
    report: Callable[[Measured], int],
) -> NoReturn:
    """Run ``measure`` with its processes in a fresh temp dir, stop them all, then ``report`` (which returns the
    number of real errors) and exit: 0 clean, 1 on errors or a BenchError, 130 when interrupted."""
    root = Path(tempfile.mkdtemp(prefix=f"luckygas-{name}-"))
    # Postgres runs as pgserver's own user when we are root; it must be able to reach its data dir.
    root.chmod(0o755)
    platform = Platform(root)
    # Logs are kept when something went wrong (an exception, errors in the figures) so they can be read.
    failed = keep_logs = True
    try:
        with terminate_as_interrupt():
            try:
                measured = measure(root, platform, arguments)
            finally:
                platform.stop()
        errors = report(measured)
        failed = keep_logs = errors > 0
    except BenchError as error:
        print(f"\n{name} failed: {error}", file=sys.stderr)
    except KeyboardInterrupt:
        keep_logs = arguments.keep
        print(f"\n{name} interrupted; every process it started is stopped", file=sys.stderr)
        sys.exit(130)
    finally:
        if keep_logs or arguments.keep:
            print(f"logs and data kept in {root}", file=sys.stderr)
        else:
            shutil.rmtree(root, ignore_errors=True)
    sys.exit(1 if failed else 0)
