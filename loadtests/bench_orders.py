"""``make bench-orders``: order creation through the gateway, and how soon each order.created reaches the live feed.

Starts its own Postgres, Redis, customer service, order service and gateway in a temp dir, seeds the demo data,
then runs rounds: WebSocket clients connect to ``/api/v1/live`` (in this process), the order load generator
(loadtests/ordergen.py, its own process) creates orders for a while, and every created order's event must reach
every WebSocket client. Prints figures; fails only on real errors (a non-2xx answer, an event that never
arrived, a dead process), never on timing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from loadtests.harness import (
    REPOSITORY,
    BenchError,
    Platform,
    Running,
    cpu_snapshot,
    login,
    python_module,
    run_bench,
    start_platform,
)
from loadtests.loadgen import percentile
from services.platform import clock

DATABASE = "luckygas_bench_orders"
AIM_ORDERS_PER_SECOND = 300.0
AIM_P99_MS = 100.0
AIM_EVENT_P99_MS = 250.0
# Taiwan keeps UTC+8 all year; the order service's "today" is the date there.
READY_SECONDS = 10.0
# The live feed drops a client that falls this far behind; it then resumes from its last cursor.
CLOSE_TOO_SLOW = 4008
SERVICES = ["gateway", "order", "customer", "postgres", "redis"]
COMPONENTS = ("loadgen", "watcher", *SERVICES)


@dataclass
class Events:
    """What the WebSocket clients saw of one round's orders."""

    created: int  # orders the round created (warm-up and last in-flight ones included)
    seen: list[int]  # per client: how many of those orders' order.created it received
    after_response: list[float]  # seconds from the 201 to the event, per (measured order, client)
    after_occurred: list[float]  # seconds from the event's occurred_at to its arrival, likewise
    unknown: int  # order.created events of orders the load generator did not see created
    duplicates: int  # an order's event received again by the same client (at-least-once delivery)
    reconnects: int  # clients dropped for falling behind, resumed from their last cursor

    @property
    def missing(self) -> int:
        return sum(self.created - seen for seen in self.seen)


@dataclass
class Round:
    number: int
    result: dict[str, Any]
    events: Events
    cpu_seconds: dict[str, float]


# --- The WebSocket side -------------------------------------------------------------------------------------------


class Watcher:
    """One live-feed client: when each order's order.created arrived, and the occurred_at it carried."""

    def __init__(self, url: str, token: str) -> None:
        self.url = url
        self.token = token
        self.ready = asyncio.Event()
        self.received: dict[str, tuple[float, float]] = {}
        self.duplicates = 0
        self.reconnects = 0
        self.cursor: str | None = None

    async def run(self) -> None:
        while True:
            query = {"access_token": self.token} | ({"after": self.cursor} if self.cursor else {})
            try:
                async with connect(f"{self.url}?{urlencode(query)}", max_queue=None) as websocket:
                    async for raw in websocket:
                        arrived = clock.timestamp()
                        self.receive(json.loads(raw), arrived)
            except ConnectionClosed as closed:
                if closed.rcvd is not None and closed.rcvd.code == CLOSE_TOO_SLOW:
                    self.reconnects += 1
                    continue
                raise BenchError(f"the live feed closed the connection: {closed}") from closed
            raise BenchError("the live feed closed the connection")

    def receive(self, message: dict[str, Any], arrived: float) -> None:
        if message.get("type") == "live.ready":
            self.ready.set()
            return
        self.cursor = message.get("cursor", self.cursor)
        if message.get("type") != "order.created":
            return
        order_id = str(message["payload"]["order_id"])
        if order_id in self.received:
            self.duplicates += 1
            return
        occurred = datetime.fromisoformat(message["occurred_at"])
        if occurred.tzinfo is None:
            occurred = occurred.replace(tzinfo=UTC)
        self.received[order_id] = (arrived, occurred.timestamp())


def event_figures(created: list[tuple[str, float, bool]], watchers: list[Watcher]) -> Events:
    ids = {order_id for order_id, _, _ in created}
    after_response, after_occurred = [], []
    for watcher in watchers:
        for order_id, answered_at, measured in created:
            seen = watcher.received.get(order_id)
            if measured and seen is not None:
                after_response.append(seen[0] - answered_at)
                after_occurred.append(seen[0] - seen[1])
    return Events(
        created=len(ids),
        seen=[len(ids & watcher.received.keys()) for watcher in watchers],
        after_response=after_response,
        after_occurred=after_occurred,
        unknown=sum(len(watcher.received.keys() - ids) for watcher in watchers),
        duplicates=sum(watcher.duplicates for watcher in watchers),
        reconnects=sum(watcher.reconnects for watcher in watchers),
    )


# --- One round ----------------------------------------------------------------------------------------------------


async def run_round(
    platform: Platform,
    running: Running,
    *,
    number: int,
    token: str,
    customers_file: Path,
    scheduled_date: str,
    arguments: argparse.Namespace,
) -> Round:
    live_url = running.gateway.replace("http://", "ws://", 1) + "/api/v1/live"
    watchers = [Watcher(live_url, token) for _ in range(arguments.watchers)]
    tasks = [asyncio.create_task(watcher.run()) for watcher in watchers]
    orders_file = platform.root / f"orders-{number}.jsonl"
    command = python_module(
        "loadtests.ordergen",
        "--gateway",
        running.gateway,
        "--token",
        token,
        "--customers-file",
        str(customers_file),
        "--scheduled-date",
        scheduled_date,
        "--orders-file",
        str(orders_file),
        "--concurrency",
        str(arguments.concurrency),
        "--duration",
        str(arguments.duration),
        "--warmup",
        str(arguments.warmup),
        "--timeout",
        str(arguments.timeout),
        "--seed",
        str(number),
    )
    process = None
    try:
        if not await until(lambda: all(watcher.ready.is_set() for watcher in watchers), tasks, READY_SECONDS):
            raise BenchError(f"the live-feed clients got no live.ready within {READY_SECONDS:g}s")
        before = await asyncio.to_thread(cpu_snapshot, platform, SERVICES)
        watcher_cpu = time.process_time()
        process = await asyncio.create_subprocess_exec(
            *command, cwd=REPOSITORY, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )
        stdout, stderr = await asyncio.wait_for(
            process.communicate(), arguments.warmup + arguments.duration + 2 * arguments.timeout + 60
        )
        if process.returncode != 0:
            raise BenchError(f"the load generator exited with {process.returncode}:\n{stderr.decode()}")
        result: dict[str, Any] = json.loads(stdout.decode().strip().splitlines()[-1])
        lines = orders_file.read_text().splitlines()
        created = [(str(i), float(at), bool(measured)) for i, at, measured in map(json.loads, lines)]
        ids = {order_id for order_id, _, _ in created}
        # Every created order's event must reach every client; the drain gives the last ones time to arrive.
        await until(lambda: all(ids <= watcher.received.keys() for watcher in watchers), tasks, arguments.drain)
        watcher_cpu = time.process_time() - watcher_cpu
        after = await asyncio.to_thread(cpu_snapshot, platform, SERVICES)
    finally:
        if process is not None and process.returncode is None:
            process.kill()
            await process.wait()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    platform.check_alive()
    cpu = {name: after[name] - before[name] for name in after}
    if cpu:
        cpu["loadgen"] = result["loadgen_cpu_s"]
        cpu["watcher"] = watcher_cpu
    return Round(number, result, event_figures(created, watchers), cpu)


async def until(condition: Callable[[], bool], tasks: list[asyncio.Task[None]], seconds: float) -> bool:
    """Wait up to ``seconds`` for ``condition()``; False if it never held. A watcher that failed meanwhile raises
    its error (a watcher only ends by failing)."""
    deadline = time.monotonic() + seconds
    while not condition():
        for task in tasks:
            if task.done():
                task.result()
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.02)
    return True


# --- Set-up -------------------------------------------------------------------------------------------------------


def orderable_customers(gateway: str, token: str) -> list[str]:
    """Every customer an order may be taken for: not terminated, not blocked (blocked ones need an override)."""
    ids, page_token = [], ""
    with httpx.Client(base_url=gateway, headers={"Authorization": f"Bearer {token}"}, timeout=10.0) as client:
        while True:
            query = {"page_size": "200", "terminated": "false"} | ({"page_token": page_token} if page_token else {})
            response = client.get("/api/v1/customers", params=query)
            if response.status_code != 200:
                raise BenchError(f"listing customers answered {response.status_code}: {response.text[:500]}")
            page = response.json()
            ids += [c["id"] for c in page["items"] if not c["blocked"] and not c["terminated"]]
            page_token = page["next_page_token"]
            if not page_token:
                return ids


# --- Output -------------------------------------------------------------------------------------------------------


def milliseconds(values: list[float], fraction: float) -> float:
    return percentile(sorted(values), fraction)


def header_line() -> str:
    return (
        f"{'round':<7} {'orders/s':>8} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} {'max ms':>7} {'errors':>6}"
        f"  {'events seen':>13} {'201→ws p50':>10} {'p99':>6} {'occ→ws p50':>10} {'p99':>6}"
    )


def row(label: str, figures: dict[str, float], errors: int, seen: str, events: dict[str, float]) -> str:
    return (
        f"{label:<7} {figures['rps']:>8.0f} {figures['p50_ms']:>7.1f} {figures['p95_ms']:>7.1f}"
        f" {figures['p99_ms']:>7.1f} {figures['max_ms']:>7.1f} {errors:>6}  {seen:>13}"
        f" {events['response_p50']:>10.1f} {events['response_p99']:>6.1f}"
        f" {events['occurred_p50']:>10.1f} {events['occurred_p99']:>6.1f}"
    )


def event_percentiles(events: Events) -> dict[str, float]:
    return {
        "response_p50": milliseconds(events.after_response, 0.50),
        "response_p99": milliseconds(events.after_response, 0.99),
        "occurred_p50": milliseconds(events.after_occurred, 0.50),
        "occurred_p99": milliseconds(events.after_occurred, 0.99),
    }


def seen_text(events: Events) -> str:
    """The fewest orders any client saw, of those created (every client must see every order)."""
    return f"{min(events.seen, default=0):,}/{events.created:,}"


def round_line(r: Round) -> str:
    text = row(str(r.number), r.result, r.result["errors"], seen_text(r.events), event_percentiles(r.events))
    if r.cpu_seconds:
        text += "  " + " ".join(f"{name}={r.cpu_seconds[name]:.1f}" for name in COMPONENTS if name in r.cpu_seconds)
    return text


def print_summary(rounds: list[Round]) -> None:
    keys = ("rps", "p50_ms", "p95_ms", "p99_ms")
    figures = {key: statistics.median(r.result[key] for r in rounds) for key in keys}
    figures["max_ms"] = max(r.result["max_ms"] for r in rounds)
    per_round = [event_percentiles(r.events) for r in rounds]
    events = {key: statistics.median(p[key] for p in per_round) for key in per_round[0]}
    created = sum(r.events.created for r in rounds)
    seen = f"{sum(min(r.events.seen, default=0) for r in rounds):,}/{created:,}"
    print()
    print(f"median of {len(rounds)} round(s) (max ms is the worst of all rounds; events seen are summed)")
    print(header_line())
    print(row("median", figures, sum(r.result["errors"] for r in rounds), seen, events))
    print()
    if not any(r.result["requests"] for r in rounds):
        print("no order was created inside a measured window: nothing to compare with the aims")
    else:
        print(aim_line("orders/s", figures["rps"], AIM_ORDERS_PER_SECOND, at_least=True))
        print(aim_line("create p99", figures["p99_ms"], AIM_P99_MS))
        print(aim_line("event p99 after the 201", events["response_p99"], AIM_EVENT_P99_MS))
        print(aim_line("event p99 after occurred_at", events["occurred_p99"], AIM_EVENT_P99_MS))
    per_order = cpu_per_order(rounds)
    if per_order:
        print(f"CPU ms per order created (all rounds, warm-ups included): {per_order}")
    all_events = [r.events for r in rounds]
    notes = {
        "events for orders the load generator did not see created": sum(e.unknown for e in all_events),
        "events received twice by one client": sum(e.duplicates for e in all_events),
        "clients dropped for falling behind (resumed from their cursor)": sum(e.reconnects for e in all_events),
    }
    for text, count in notes.items():
        if count:
            print(f"{text}: {count}")


def aim_line(name: str, value: float, aim: float, *, at_least: bool = False) -> str:
    meets = value >= aim if at_least else value <= aim
    unit = "" if at_least else " ms"
    relation = ">=" if at_least else "<="
    verdict = "meets the aim" if meets else ("below the aim" if at_least else "above the aim")
    return f"{name}: {value:.0f}{unit}   aim {relation} {aim:.0f}{unit} ({verdict})"


def cpu_per_order(rounds: list[Round]) -> str:
    mine = [r for r in rounds if r.cpu_seconds]
    created = sum(r.events.created for r in mine)
    if not mine or not created:
        return ""
    parts = []
    for name in COMPONENTS:
        if any(name in r.cpu_seconds for r in mine):
            parts.append(f"{name} {sum(r.cpu_seconds.get(name, 0.0) for r in mine) * 1000 / created:.2f}")
    total = sum(sum(r.cpu_seconds.values()) for r in mine) * 1000 / created
    return ", ".join(parts) + f"; all {total:.2f}"


def report(rounds: list[Round]) -> int:
    print_summary(rounds)
    print()
    errors = sum(int(r.result["errors"]) for r in rounds)
    missing = sum(r.events.missing for r in rounds)
    print(f"errors: {errors} (non-2xx answers and failed requests, all rounds)")
    for r in rounds:
        if r.result["errors"]:
            print(f"  round {r.number}: {r.result['error_kinds']}")
            for kind, sample in r.result["error_samples"].items():
                print(f"    {kind}: {sample}")
    print(f"missing events: {missing} (an order's order.created that a client never received, all rounds)")
    for r in rounds:
        if r.events.missing:
            print(f"  round {r.number}: per client seen {r.events.seen} of {r.events.created}")
    return errors + missing


# --- Main ---------------------------------------------------------------------------------------------------------


def bench(root: Path, platform: Platform, arguments: argparse.Namespace) -> list[Round]:
    running = start_platform(platform, DATABASE, refill_history=True, durable_postgres=arguments.durable_postgres)
    customers = orderable_customers(running.gateway, login(running.gateway, running.password))
    if not customers:
        raise BenchError("no customer can take an order after `services.customer seed --seed demo`")
    customers_file = root / "customers.txt"
    customers_file.write_text("\n".join(customers) + "\n")
    scheduled_date = (clock.taipei_now().date() + timedelta(days=1)).isoformat()

    print()
    print(
        f"bench-orders: POST /api/v1/orders, {arguments.concurrency} keep-alive connections, {arguments.rounds}"
        f" round(s) of {arguments.duration:g} s after {arguments.warmup:g} s warm-up; {arguments.watchers}"
        " WebSocket client(s) on /api/v1/live"
    )
    print(
        f"  orders:   cash, additional, 2 × cylinder-20-regular on {scheduled_date} 09:00-12:00, for random"
        f" customers out of {len(customers):,} (not blocked, not terminated); each its own Idempotency-Key"
    )
    print("  path:     gateway (JWT, middleware) → gRPC CreateOrder → order service (customer via gRPC, advisory")
    print("            locks, day's number counter, INSERTs + outbox row + NOTIFY, commit) → Postgres;")
    print("            outbox relay (woken by NOTIFY) → XADD events.order → gateway's XREAD → WebSocket")
    durability = "fsync on (commits wait for the disk)" if arguments.durable_postgres else "fsync and synchronous"
    if not arguments.durable_postgres:
        durability += " commit off (throw-away data; --durable-postgres to wait for the disk)"
    print(f"  postgres: {durability}")
    print(
        f"  machine:  {os.cpu_count()} CPU(s) shared by the load generator, the WebSocket clients, three services,"
        " Postgres and Redis: absolute figures are this machine's"
    )
    if hasattr(os, "getloadavg"):
        print(f"  load:     load average {os.getloadavg()[0]:.1f} before the rounds (other work skews the figures)")
    print(
        f"  reading:  each connection waits for its answer, so mean latency ≈ {arguments.concurrency} / orders/s"
        " (Little's law)"
    )
    print(
        "  events:   201→ws counts from the 201 (after the commit: a lower bound of commit→ws), occ→ws from the"
        " event's occurred_at (set inside the transaction, before the commit: an upper bound); percentiles over"
        " the orders of the measured window × clients; every order of the round must reach every client"
    )
    print()
    print(header_line() + "  CPU seconds used in the round")
    rounds = []
    for number in range(1, arguments.rounds + 1):
        # A fresh token per round: access tokens live 10 minutes, a long run outlasts one.
        token = login(running.gateway, running.password)
        measured = asyncio.run(
            run_round(
                platform,
                running,
                number=number,
                token=token,
                customers_file=customers_file,
                scheduled_date=scheduled_date,
                arguments=arguments,
            )
        )
        rounds.append(measured)
        print(round_line(measured), flush=True)
    return rounds


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m loadtests.bench_orders", description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=10.0, help="measured seconds per round")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of load before each round's measurement")
    parser.add_argument("--rounds", type=int, default=3, help="rounds")
    parser.add_argument("--concurrency", type=int, default=50, help="keep-alive connections creating orders")
    parser.add_argument("--watchers", type=int, default=2, help="WebSocket clients on the live feed")
    parser.add_argument("--drain", type=float, default=10.0, help="seconds to wait for the last events after the load")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds before a create counts as an error")
    parser.add_argument("--durable-postgres", action="store_true", help="fsync on: commits wait for the disk")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (data and logs) after the run")
    arguments = parser.parse_args()
    if min(arguments.rounds, arguments.concurrency, arguments.watchers) < 1 or arguments.duration <= 0:
        parser.error("--rounds, --concurrency, --watchers and --duration must be positive")

    run_bench("bench-orders", arguments, bench, report)


if __name__ == "__main__":
    main()
