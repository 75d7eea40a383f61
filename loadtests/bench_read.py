"""``make bench-read``: GET /api/v1/customers/{id} through gateway → gRPC → Postgres against a one-process baseline.

Starts its own Postgres, Redis, customer service, gateway and baseline (loadtests/baseline_app.py) in a temp
dir, then lets the same load generator (loadtests/loadgen.py, its own process) hit the baseline and the gateway
in alternating rounds. Prints figures; fails only on real errors (a non-2xx answer, a dead process), never on
timing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import shutil
import signal
import statistics
import string
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import asyncpg
import httpx

from services.local import stores
from services.local.stores import ProcessSpec, RunningProcess

REPOSITORY = Path(__file__).resolve().parent.parent
ROUTE = "/api/v1/customers/{id}"
DATABASE = "luckygas_bench"
READY_SECONDS = 60.0
STEP_SECONDS = 300.0
AIM_RATIO = 0.6
AIM_P99_MS = 50.0
LOG_TAIL_LINES = 30


class BenchError(Exception):
    """Something real went wrong (not a slow figure): the run reports it and exits non-zero."""


@dataclass
class Round:
    number: int
    target: str
    result: dict[str, Any]
    cpu_seconds: dict[str, float]


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
    completed = subprocess.run(
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


def customer_ids(postgres_port: int) -> list[str]:
    async def fetch() -> list[str]:
        connection = await asyncpg.connect(
            host="127.0.0.1", port=postgres_port, user=stores.POSTGRES_USER, database=DATABASE
        )
        try:
            rows = await connection.fetch("SELECT id FROM customer.customers ORDER BY code")
        finally:
            await connection.close()
        return [str(row["id"]) for row in rows]

    return asyncio.run(fetch())


def login(gateway: str, password: str) -> str:
    response = httpx.post(
        f"{gateway}/api/v1/auth/login", json={"username": "dispatcher", "password": password}, timeout=10.0
    )
    if response.status_code != 200:
        raise BenchError(f"login as dispatcher answered {response.status_code}: {response.text[:500]}")
    return str(response.json()["access_token"])


def check_same_answer(gateway: str, baseline: str, token: str, customer_id: str) -> None:
    """Both targets must serve the same customer, so the comparison is between equal work."""
    ours = httpx.get(
        f"{gateway}{ROUTE.format(id=customer_id)}", headers={"Authorization": f"Bearer {token}"}, timeout=10.0
    )
    floor = httpx.get(f"{baseline}{ROUTE.format(id=customer_id)}", timeout=10.0)
    for name, response in (("gateway", ours), ("baseline", floor)):
        if response.status_code != 200:
            raise BenchError(
                f"{name} answered {response.status_code} for customer {customer_id}: {response.text[:500]}"
            )
    mine, theirs = ours.json(), floor.json()
    for key in ("id", "code", "short_name", "version", "phones", "cylinders"):
        if mine.get(key) != theirs.get(key):
            raise BenchError(f"gateway and baseline disagree on {key}: {mine.get(key)!r} != {theirs.get(key)!r}")


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


# --- One round ----------------------------------------------------------------------------------------------------


def run_round(
    platform: Platform,
    *,
    target: str,
    base_url: str,
    ids_file: Path,
    headers: list[str],
    arguments: argparse.Namespace,
    watched: list[str],
) -> tuple[dict[str, Any], dict[str, float]]:
    command = python_module(
        "loadtests.loadgen",
        "--url-template",
        base_url + ROUTE,
        "--ids-file",
        str(ids_file),
        "--concurrency",
        str(arguments.concurrency),
        "--duration",
        str(arguments.duration),
        "--warmup",
        str(arguments.warmup),
    )
    for header in headers:
        command += ["--header", header]
    before = cpu_snapshot(platform, watched)
    completed = subprocess.run(
        command,
        cwd=REPOSITORY,
        capture_output=True,
        text=True,
        timeout=arguments.warmup + arguments.duration + 120,
        check=False,
    )
    after = cpu_snapshot(platform, watched)
    if completed.returncode != 0:
        raise BenchError(f"the load generator exited with {completed.returncode} on {target}:\n{completed.stderr}")
    result: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    cpu = {name: after[name] - before[name] for name in after}
    cpu["loadgen"] = result["loadgen_cpu_s"]
    platform.check_alive()
    return result, cpu


# --- Output -------------------------------------------------------------------------------------------------------

COMPONENTS = ("loadgen", "baseline", "gateway", "customer", "postgres")


def row(label: str, target: str, figures: dict[str, float], errors: int, cpu: dict[str, float] | None) -> str:
    text = (
        f"{label:<7} {target:<9} {figures['rps']:>8.0f} {figures['p50_ms']:>7.1f} {figures['p95_ms']:>7.1f}"
        f" {figures['p99_ms']:>7.1f} {figures['max_ms']:>7.1f} {errors:>6}"
    )
    if cpu:
        text += "  " + " ".join(f"{name}={cpu[name]:.1f}" for name in COMPONENTS if name in cpu)
    return text


def header_line() -> str:
    return (
        f"{'round':<7} {'target':<9} {'req/s':>8} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} {'max ms':>7}"
        f" {'errors':>6}  CPU seconds used in the round"
    )


def median_figures(rounds: list[Round], target: str) -> dict[str, float]:
    mine = [r.result for r in rounds if r.target == target]
    return {key: statistics.median(result[key] for result in mine) for key in ("rps", "p50_ms", "p95_ms", "p99_ms")} | {
        "max_ms": max(result["max_ms"] for result in mine)
    }


def report_errors(rounds: list[Round]) -> int:
    total = sum(int(r.result["errors"]) for r in rounds)
    print(f"errors: {total} (non-2xx answers and failed requests, all rounds)")
    for r in rounds:
        if r.result["errors"]:
            print(f"  round {r.number} {r.target}: {r.result['error_kinds']}")
            for kind, sample in r.result["error_samples"].items():
                print(f"    {kind}: {sample}")
    return total


def print_summary(rounds: list[Round]) -> None:
    baseline, ours = median_figures(rounds, "baseline"), median_figures(rounds, "ours")
    print()
    print(f"median of {len(rounds) // 2} round(s) each (max ms is the worst of all rounds)")
    print(header_line().rsplit("  CPU", 1)[0])
    print(row("median", "baseline", baseline, sum(r.result["errors"] for r in rounds if r.target == "baseline"), None))
    print(row("median", "ours", ours, sum(r.result["errors"] for r in rounds if r.target == "ours"), None))
    ratio = ours["rps"] / baseline["rps"] if baseline["rps"] else 0.0
    print()
    meets = "meets" if ratio >= AIM_RATIO else "below"
    print(f"ratio (ours/baseline throughput): {ratio:.2f}   aim >= {AIM_RATIO} ({meets} the aim)")
    if not any(r.result["requests"] for r in rounds if r.target == "ours"):
        meets = "no successful request to measure"
    else:
        meets = "meets the aim" if ours["p99_ms"] <= AIM_P99_MS else "above the aim"
    print(f"p99 ours: {ours['p99_ms']:.1f} ms   aim <= {AIM_P99_MS:.0f} ms ({meets})")
    per_request = cpu_per_request(rounds)
    if per_request:
        print("CPU ms per request (all rounds): " + "; ".join(f"{t}: {text}" for t, text in per_request.items()))


def cpu_per_request(rounds: list[Round]) -> dict[str, str]:
    out: dict[str, str] = {}
    for target in ("baseline", "ours"):
        mine = [r for r in rounds if r.target == target and r.cpu_seconds]
        requests = sum(r.result["requests"] for r in mine)
        if not mine or not requests:
            continue
        parts = []
        for name in COMPONENTS:
            seconds = sum(r.cpu_seconds.get(name, 0.0) for r in mine)
            if any(name in r.cpu_seconds for r in mine):
                parts.append(f"{name} {seconds * 1000 / requests:.2f}")
        out[target] = ", ".join(parts)
    return out


# --- Main ---------------------------------------------------------------------------------------------------------


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


def bench(root: Path, platform: Platform, arguments: argparse.Namespace) -> list[Round]:
    ports = {name: stores.free_port() for name in ("postgres", "redis", "grpc", "metrics", "gateway", "baseline")}
    postgres = platform.start("postgres", stores.prepare_postgres(root / "pg", ports["postgres"], durable=False))
    redis = platform.start("redis", stores.redis_spec(root / "redis", ports["redis"], durable=False))
    stores.wait_for_port(ports["postgres"], 30, postgres.process)
    stores.wait_for_port(ports["redis"], 10, redis.process)
    stores.create_database(ports["postgres"], DATABASE)

    password = os.environ.get("LUCKYGAS_DEMO_PASSWORD", "luckygas-demo")
    alphabet = string.ascii_letters + string.digits
    environment = {
        "LUCKYGAS_ENVIRONMENT": "development",
        "LUCKYGAS_DATABASE_URL": stores.postgres_url(ports["postgres"], DATABASE),
        "LUCKYGAS_REDIS_URL": stores.redis_url(ports["redis"]),
        "LUCKYGAS_CUSTOMER_GRPC_PORT": str(ports["grpc"]),
        "LUCKYGAS_CUSTOMER_METRICS_PORT": str(ports["metrics"]),
        "LUCKYGAS_CUSTOMER_ADDRESS": f"127.0.0.1:{ports['grpc']}",
        "LUCKYGAS_GATEWAY_PORT": str(ports["gateway"]),
        "LUCKYGAS_JWT_SECRET": "".join(secrets.choice(alphabet) for _ in range(48)),
        "LUCKYGAS_DEMO_PASSWORD": password,
    }
    print("setting up: migrate, seed demo customers and users …", flush=True)
    run_step(root, environment, "services.customer", "migrate")
    run_step(root, environment, "services.gateway", "migrate")
    print("  " + run_step(root, environment, "services.customer", "seed", "--seed", "demo").splitlines()[-1])
    print("  " + run_step(root, environment, "services.gateway", "seed").splitlines()[-1])

    def service(module: str, *extra: str) -> ProcessSpec:
        return ProcessSpec(argv=python_module(module, *extra), environment=environment)

    platform.start("customer", service("services.customer", "serve"))
    platform.start("gateway", service("services.gateway", "serve"))
    platform.start("baseline", service("loadtests.baseline_app", "--port", str(ports["baseline"])))
    gateway = f"http://127.0.0.1:{ports['gateway']}"
    baseline = f"http://127.0.0.1:{ports['baseline']}"
    wait_ready(platform, "gateway", f"{gateway}/readyz")
    wait_ready(platform, "baseline", f"{baseline}/readyz")

    ids = customer_ids(ports["postgres"])
    if not ids:
        raise BenchError("the customer table is empty after `services.customer seed --seed demo`")
    ids_file = root / "ids.txt"
    ids_file.write_text("\n".join(ids) + "\n")
    check_same_answer(gateway, baseline, login(gateway, password), ids[0])

    print()
    print(
        f"bench-read: GET {ROUTE}, {arguments.concurrency} keep-alive connections, {arguments.rounds} round(s) per"
        f" target of {arguments.duration:g} s after {arguments.warmup:g} s warm-up, random ids out of {len(ids):,}"
    )
    print("  ours:     gateway (JWT check, tracing/metrics/access-log middleware) → gRPC → customer service")
    print("            (interceptors: tracing, metrics, access log, errors; one autocommit SELECT) → Postgres")
    print("  baseline: one FastAPI route → asyncpg pool → Postgres; no auth, no middleware (the floor)")
    print(
        f"  machine:  {os.cpu_count()} CPU(s) shared by the load generator, both apps, the customer service and"
        " Postgres: absolute figures are this machine's, read the ratio"
    )
    if hasattr(os, "getloadavg"):
        print(f"  load:     load average {os.getloadavg()[0]:.1f} before the rounds (other work skews both targets)")
    print(
        f"  reading:  each connection waits for its answer, so mean latency ≈ {arguments.concurrency} / req/s"
        " (Little's law): a low p99 needs high throughput"
    )
    print()
    print(header_line())
    rounds: list[Round] = []
    for number in range(1, arguments.rounds + 1):
        for target in ("baseline", "ours"):
            if target == "baseline":
                url, headers, watched = baseline, [], ["baseline", "postgres"]
            else:
                # A fresh token per round: access tokens live 10 minutes, a long run outlasts one.
                url, watched = gateway, ["gateway", "customer", "postgres"]
                headers = [f"Authorization: Bearer {login(gateway, password)}"]
            result, cpu = run_round(
                platform,
                target=target,
                base_url=url,
                ids_file=ids_file,
                headers=headers,
                arguments=arguments,
                watched=watched,
            )
            rounds.append(Round(number, target, result, cpu))
            print(row(str(number), target, result, result["errors"], cpu), flush=True)
    return rounds


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m loadtests.bench_read", description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=10.0, help="measured seconds per round")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of load before each round's measurement")
    parser.add_argument("--rounds", type=int, default=2, help="rounds per target (baseline and ours alternate)")
    parser.add_argument("--concurrency", type=int, default=100, help="keep-alive connections")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (data and logs) after the run")
    arguments = parser.parse_args()
    if arguments.rounds < 1 or arguments.concurrency < 1 or arguments.duration <= 0:
        parser.error("--rounds, --concurrency and --duration must be positive")

    root = Path(tempfile.mkdtemp(prefix="luckygas-bench-read-"))
    # Postgres runs as pgserver's own user when we are root; it must be able to reach its data dir.
    root.chmod(0o755)
    platform = Platform(root)
    # Logs are kept when something went wrong (an exception, errors in the figures) so they can be read.
    failed = keep_logs = True
    try:
        with terminate_as_interrupt():
            try:
                rounds = bench(root, platform, arguments)
            finally:
                platform.stop()
        print_summary(rounds)
        print()
        errors = report_errors(rounds)
        failed = keep_logs = errors > 0
    except BenchError as error:
        print(f"\nbench-read failed: {error}", file=sys.stderr)
    except KeyboardInterrupt:
        keep_logs = arguments.keep
        print("\nbench-read interrupted; every process it started is stopped", file=sys.stderr)
        sys.exit(130)
    finally:
        if keep_logs or arguments.keep:
            print(f"logs and data kept in {root}", file=sys.stderr)
        else:
            shutil.rmtree(root, ignore_errors=True)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
