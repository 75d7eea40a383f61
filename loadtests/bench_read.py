"""``make bench-read``: GET /api/v1/customers/{id} through gateway → gRPC → Postgres against a one-process baseline.

Starts its own Postgres, Redis, customer service, order service (idle here, but the gateway's readiness needs
it), gateway and baseline (loadtests/baseline_app.py) in a temp dir, then lets the same load generator
(loadtests/loadgen.py, its own process) hit the baseline and the gateway in alternating rounds. Prints figures;
fails only on real errors (a non-2xx answer, a dead process), never on timing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import redis.asyncio as aioredis

from loadtests.harness import (
    REPOSITORY,
    BenchError,
    Platform,
    cpu_snapshot,
    login,
    python_module,
    run_bench,
    start_platform,
    wait_ready,
)
from services.gateway.revocations import Revocations
from services.gateway.tokens import AccessClaims
from services.local import stores
from services.local.stores import ProcessSpec
from services.platform import clock

ROUTE = "/api/v1/customers/{id}"
DATABASE = "luckygas_bench"
AIM_RATIO = 0.6
AIM_P99_MS = 50.0


@dataclass
class Round:
    number: int
    target: str
    result: dict[str, Any]
    cpu_seconds: dict[str, float]


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
    completed = subprocess.run(  # nosec B603 # argv is this interpreter running our loadgen module, no shell
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


def bench(root: Path, platform: Platform, arguments: argparse.Namespace) -> list[Round]:
    running = start_platform(platform, DATABASE, refill_history=False, extra_ports=("baseline",))
    ports, password, gateway = running.ports, running.password, running.gateway
    baseline_spec = python_module("loadtests.baseline_app", "--port", str(ports["baseline"]))
    platform.start("baseline", ProcessSpec(argv=baseline_spec, environment=running.environment))
    baseline = f"http://127.0.0.1:{ports['baseline']}"
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
    print()
    deny_list_cost(ports["redis"])
    return rounds


DENY_LIST_CHECKS = 5_000
DENY_LIST_SIZE = 2_000


def deny_list_cost(redis_port: int) -> None:
    """What the logout deny-list adds to every authenticated request: one MGET against the platform's Redis, timed
    alone over DENY_LIST_CHECKS sequential checks with DENY_LIST_SIZE tokens revoked (a busy hour of logouts)."""

    async def measure() -> list[float]:
        redis = aioredis.Redis.from_url(stores.redis_url(redis_port))
        revocations = Revocations(redis, access_seconds=600)
        try:
            expires = clock.timestamp() + 600
            for _ in range(DENY_LIST_SIZE):
                await revocations.revoke_token(claims(expires))
            checked = claims(expires)
            seconds = []
            for _ in range(DENY_LIST_CHECKS):
                started = time.perf_counter()
                assert not await revocations.is_revoked(checked)
                seconds.append(time.perf_counter() - started)
            return seconds
        finally:
            await redis.aclose()

    def claims(expires: float) -> AccessClaims:
        return AccessClaims(uuid.uuid4(), "bench", "dispatcher", None, uuid.uuid4().hex, clock.timestamp(), expires)

    seconds = sorted(asyncio.run(measure()))
    p50, p99 = seconds[len(seconds) // 2], seconds[int(len(seconds) * 0.99)]
    print(
        f"deny-list check (logout revocation, on every authenticated request): p50 {p50 * 1e6:.0f} µs, "
        f"p99 {p99 * 1e6:.0f} µs per check, {DENY_LIST_CHECKS:,} sequential checks with {DENY_LIST_SIZE:,} tokens "
        "revoked; compare with the gateway's per-request p50 above"
    )


def report(rounds: list[Round]) -> int:
    print_summary(rounds)
    print()
    return report_errors(rounds)


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

    run_bench("bench-read", arguments, bench, report)


if __name__ == "__main__":
    main()
