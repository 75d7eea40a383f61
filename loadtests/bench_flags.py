"""``make bench-flags``: in-process flag evaluation, remote evaluation through the flag service, kill propagation.

Prints three sets of figures: (1) in-process evaluation latency (loadtests/flags_in_process.py's cases);
(2) EvaluateFlag calls per second over gRPC with a fixed number in flight; (3) how long a change (KillFlag, then
PutFlag turning it back on) takes until every service process reports the new revision on its /metrics
(``luckygas_flags_local_revision``). Starts its own Postgres, Redis, flag, customer, order, routing and gateway services
in a temp dir (harness.py). Fails only on real errors (a failed RPC, a change a process never saw, a dead
process), never on timing: the aims are reported, not asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import httpx
from google.protobuf import struct_pb2
from luckygas.flags.v1 import flags_pb2 as pb
from luckygas.flags.v1 import flags_pb2_grpc

from loadtests import flags_in_process as in_process
from loadtests.harness import BenchError, Platform, run_bench, start_platform
from loadtests.loadgen import percentile
from services.platform.flags.engine import parse_flag

FLAG_KEY = "bench-kill-switch"
SPLIT_KEY = "bench-split"
ACTOR = pb.Actor(username="bench-flags", role="admin")
ENABLED = {"state": "ENABLED", "variants": {"on": True, "off": False}, "defaultVariant": "on"}
SPLIT = {**in_process.BOOLEAN, "targeting": {"fractional": [["on", 10], ["off", 90]]}}
# The processes that keep an in-process copy, by the environment variable naming their /metrics port (the
# gateway serves /metrics on its HTTP port).
WATCHERS = {
    "customer": "LUCKYGAS_CUSTOMER_METRICS_PORT",
    "order": "LUCKYGAS_ORDER_METRICS_PORT",
    "routing": "LUCKYGAS_ROUTING_METRICS_PORT",
    "gateway": "LUCKYGAS_GATEWAY_PORT",
}
REVISION_METRIC = "luckygas_flags_local_revision"


@dataclass
class Measured:
    in_process: dict[str, tuple[float, float]] = field(default_factory=dict)
    remote_calls: int = 0
    remote_seconds: float = 0.0
    remote_latencies: list[float] = field(default_factory=list)
    remote_errors: int = 0
    rpc_latencies: list[float] = field(default_factory=list)
    propagation: dict[str, list[float]] = field(default_factory=dict)
    missed: int = 0
    concurrency: int = 0


# --- (1) in-process ---------------------------------------------------------------------------------------------


def measure_in_process(customers: int, rounds: int) -> dict[str, tuple[float, float]]:
    contexts = [
        {"targetingKey": f"{1000000 + n:07d}", "zone": "ABCD"[n % 4], "segment": "night_market"}
        for n in range(customers)
    ]
    figures = {}
    for name, (key, definition) in in_process.CASES.items():
        flag = parse_flag(key, definition)
        if "fractional" in json.dumps(definition):
            figures[f"{name}, first sight"] = in_process.measure(flag, contexts, 1)
        figures[name] = in_process.measure(flag, contexts, rounds)
    return figures


# --- (2) remote evaluation --------------------------------------------------------------------------------------


async def measure_remote(address: str, concurrency: int, duration: float, measured: Measured) -> None:
    async with grpc.aio.insecure_channel(address) as channel:
        stub = flags_pb2_grpc.FlagServiceStub(channel)
        stop = time.perf_counter() + duration
        clock = time.perf_counter

        async def caller(number: int) -> None:
            customer = number
            while clock() < stop:
                context = struct_pb2.Struct()
                context.update({"targetingKey": f"{1000000 + customer % 10_000:07d}"})
                customer += concurrency
                started = clock()
                try:
                    result = await stub.EvaluateFlag(pb.EvaluateFlagRequest(flag_key=SPLIT_KEY, context=context))
                except grpc.aio.AioRpcError:
                    measured.remote_errors += 1
                    continue
                measured.remote_latencies.append(clock() - started)
                if result.reason != "SPLIT":
                    measured.remote_errors += 1

        began = clock()
        await asyncio.gather(*(caller(number) for number in range(concurrency)))
        measured.remote_seconds = clock() - began
        measured.remote_calls = len(measured.remote_latencies)


# --- (3) propagation --------------------------------------------------------------------------------------------


def read_revision(client: httpx.Client, url: str) -> int | None:
    try:
        text = client.get(url, timeout=1.0).text
    except httpx.HTTPError:
        return None
    for line in text.splitlines():
        if line.startswith(REVISION_METRIC + " "):
            return int(float(line.split()[1]))
    return None


class RevisionPoller(threading.Thread):
    """Polls one process's revision gauge every ``interval`` seconds; ``wait_above`` times when it passes one."""

    def __init__(self, name: str, port: int, interval: float) -> None:
        super().__init__(name=f"poll-{name}", daemon=True)
        # Only the one gauge: the whole exposition would make each poll cost the service far more.
        self.url = f"http://127.0.0.1:{port}/metrics?name[]={REVISION_METRIC}"
        self.interval = interval
        self.revision = -1
        self.seen_at = 0.0  # perf_counter of the poll that first read ``revision``
        self.changed = threading.Condition()
        self.running = True

    def run(self) -> None:
        with httpx.Client() as client:
            while self.running:
                revision = read_revision(client, self.url)
                if revision is not None and revision != self.revision:
                    with self.changed:
                        self.seen_at = time.perf_counter()
                        self.revision = revision
                        self.changed.notify_all()
                time.sleep(self.interval)

    def wait_above(self, revision: int, timeout: float) -> float | None:
        """perf_counter of the poll that first read more than ``revision``; None after ``timeout``."""
        with self.changed:
            if self.changed.wait_for(lambda: self.revision > revision, timeout):
                return self.seen_at
        return None


def measure_propagation(
    address: str, ports: dict[str, int], changes: int, interval: float, timeout: float, measured: Measured
) -> None:
    pollers = {name: RevisionPoller(name, port, interval) for name, port in ports.items()}
    for poller in pollers.values():
        poller.start()
    measured.propagation = {name: [] for name in pollers}
    try:
        with grpc.insecure_channel(address) as channel:
            stub = flags_pb2_grpc.FlagServiceStub(channel)
            flag = stub.PutFlag(
                pb.PutFlagRequest(key=FLAG_KEY, definition_json=json.dumps(ENABLED), actor=ACTOR, reason="bench")
            )
            # Every process has the flag before the first timed change.
            target = stub.ListFlags(pb.ListFlagsRequest()).revision
            for name, poller in pollers.items():
                if poller.wait_above(target - 1, timeout) is None:
                    raise BenchError(f"{name} never reported revision {target} (still {poller.revision})")
            for number in range(changes):
                before = max(poller.revision for poller in pollers.values())
                started = time.perf_counter()
                if number % 2 == 0:
                    flag = stub.KillFlag(pb.KillFlagRequest(key=FLAG_KEY, actor=ACTOR, reason="bench: kill"))
                else:
                    flag = stub.PutFlag(
                        pb.PutFlagRequest(
                            key=FLAG_KEY,
                            definition_json=json.dumps(ENABLED),
                            expected_version=flag.version,
                            actor=ACTOR,
                            reason="bench: turn on again",
                        )
                    )
                measured.rpc_latencies.append(time.perf_counter() - started)
                for name, poller in pollers.items():
                    seen = poller.wait_above(before, timeout)
                    if seen is None:
                        measured.missed += 1
                    else:
                        measured.propagation[name].append(seen - started)
                time.sleep(0.05)  # a pause between changes, so each is measured on its own
    finally:
        for poller in pollers.values():
            poller.running = False


# --- The run ----------------------------------------------------------------------------------------------------


def bench(root: Path, platform: Platform, arguments: argparse.Namespace) -> Measured:
    measured = Measured(concurrency=arguments.concurrency)
    print(
        f"in-process evaluation: {arguments.customers} customers x {arguments.rounds} rounds "
        "(loadtests/flags_in_process.py) …",
        flush=True,
    )
    measured.in_process = measure_in_process(arguments.customers, arguments.rounds)
    running = start_platform(platform, "luckygas_bench_flags", refill_history=False)
    address = running.environment["LUCKYGAS_FLAGS_ADDRESS"]
    with grpc.insecure_channel(address) as channel:
        flags_pb2_grpc.FlagServiceStub(channel).PutFlag(
            pb.PutFlagRequest(key=SPLIT_KEY, definition_json=json.dumps(SPLIT), actor=ACTOR, reason="bench")
        )
    print(f"remote evaluation: {arguments.concurrency} in flight for {arguments.duration:.0f}s …", flush=True)
    asyncio.run(measure_remote(address, arguments.concurrency, arguments.duration, measured))
    platform.check_alive()
    print(f"propagation: {arguments.changes} changes, polling every {arguments.poll * 1000:.0f} ms …", flush=True)
    ports = {name: int(running.environment[variable]) for name, variable in WATCHERS.items()}
    measure_propagation(address, ports, arguments.changes, arguments.poll, arguments.timeout, measured)
    platform.check_alive()
    return measured


def figures(seconds: list[float]) -> str:
    ordered = sorted(seconds)
    if not ordered:
        return "no samples"
    return (
        f"p50 {percentile(ordered, 0.50):7.1f}   p99 {percentile(ordered, 0.99):7.1f}   "
        f"max {ordered[-1] * 1000:7.1f} ms   (n={len(ordered)})"
    )


def report(measured: Measured) -> int:
    print()
    print("bench-flags")
    print(
        f"  machine:  {os.cpu_count()} CPU(s) shared by this bench (clients and pollers), the flag, customer, order,"
        " routing and gateway services, Postgres and Redis: absolute figures are this machine's"
    )
    if hasattr(os, "getloadavg"):
        print(f"  load:     load average {os.getloadavg()[0]:.1f} at the end (other work skews the figures)")
    print()
    print("1. in-process evaluation (microseconds)")
    for name, latency in measured.in_process.items():
        in_process.report(name, latency)
    split = measured.in_process.get("split (10 %)", (0.0, 0.0))[0]
    print(f"  aim: split p50 ≤ 5 µs: {split:.2f} µs")
    print()
    rate = measured.remote_calls / measured.remote_seconds if measured.remote_seconds else 0.0
    print(f"2. remote EvaluateFlag over gRPC ({measured.concurrency} in flight, one Python client process)")
    print(f"  {rate:8.0f} evaluations/s   {figures(measured.remote_latencies)}   errors {measured.remote_errors}")
    print()
    print("3. kill-switch propagation: change sent → process reports the new revision on /metrics")
    print(f"  change RPC (commit)  {figures(measured.rpc_latencies)}")
    overall: list[float] = []
    every = [max(times) for times in zip(*measured.propagation.values(), strict=False)]
    for name, seconds in measured.propagation.items():
        print(f"  {name:20s} {figures(seconds)}")
        overall += seconds
    print(f"  {'all (per process)':20s} {figures(overall)}")
    print(f"  {'every process':20s} {figures(every)}")
    worst = percentile(sorted(every), 0.99) if every else 0.0
    print(f"  aim: every process p99 ≤ 250 ms: {worst:.1f} ms; changes a process never saw: {measured.missed}")
    return measured.missed + measured.remote_errors


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m loadtests.bench_flags", description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=10_000, help="contexts for the in-process evaluation")
    parser.add_argument("--rounds", type=int, default=3, help="in-process rounds over every customer")
    parser.add_argument("--concurrency", type=int, default=32, help="EvaluateFlag calls in flight")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds of remote evaluation")
    parser.add_argument("--changes", type=int, default=30, help="kill / turn-on changes timed")
    parser.add_argument("--poll", type=float, default=0.003, help="seconds between two polls of one /metrics")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds before a change counts as never seen")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (data and logs) after the run")
    arguments = parser.parse_args()
    if min(arguments.customers, arguments.rounds, arguments.concurrency, arguments.changes) < 1:
        parser.error("--customers, --rounds, --concurrency and --changes must be positive")
    run_bench("bench-flags", arguments, bench, report)


if __name__ == "__main__":
    main()
