"""The realistic Lucky Gas day end to end through the API: about 165 confirmed orders over the zones (made by
loadtests/realistic_day.py through the gateway), the demo fleet of 8 vehicles including one motorcycle, planned
with ``POST /api/v1/plans``, published, and an urgent order inserted.

Starts its own platform (harness.py). Prints the wall time of each call as a client sees it, the solver's time
inside it, how many orders were routed and why the others were not, vehicles used and distance. Aim, reported,
not asserted: the day planned in at most 10 s. Fails only on real errors (a call that is not 2xx).
"""

from __future__ import annotations

import argparse
import os
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from loadtests.harness import BenchError, Platform, run_bench, start_platform
from loadtests.realistic_day import make_day
from services.platform import clock
from services.platform.clock import TAIPEI

AIM_SECONDS = 10.0


@dataclass
class Measured:
    budget: float = 0.0
    orders: int = 0
    make_seconds: float = 0.0
    plans: list[dict[str, Any]] = field(default_factory=list)
    plan_seconds: list[float] = field(default_factory=list)
    publish_seconds: float = 0.0
    urgent_seconds: float = 0.0
    urgent_placed: bool = False
    errors: int = 0


def taipei(moment: str) -> str:
    return datetime.fromisoformat(moment).astimezone(TAIPEI).strftime("%H:%M")


def timed_post(client: httpx.Client, path: str, **kwargs: Any) -> tuple[httpx.Response, float]:
    started = time.perf_counter()
    response = client.post(path, **kwargs)
    return response, time.perf_counter() - started


def ok(response: httpx.Response, what: str) -> dict[str, Any]:
    if response.status_code >= 300:
        raise BenchError(f"{what}: {response.status_code} {response.text[:500]}")
    body: dict[str, Any] = response.json()
    return body


def bench(root: Path, platform: Platform, arguments: argparse.Namespace) -> Measured:
    measured = Measured(budget=arguments.day_budget)
    running = start_platform(platform, "luckygas_bench_routing", refill_history=False)
    day = clock.taipei_today() + timedelta(days=1)
    with httpx.Client(base_url=running.gateway, timeout=120) as client:
        login = client.post("/api/v1/auth/login", json={"username": "dispatcher", "password": running.password})
        office = {"Authorization": f"Bearer {ok(login, 'login')['access_token']}"}
        print(f"realistic day {day}: making the orders through the gateway …", flush=True)
        started = time.perf_counter()
        orders = make_day(client, office, day)
        measured.make_seconds = time.perf_counter() - started
        measured.orders = len(orders)
        print(f"planning {len(orders)} orders, {arguments.rounds} round(s) of {arguments.day_budget:g} s …", flush=True)
        for number in range(arguments.rounds):
            response, seconds = timed_post(
                client,
                "/api/v1/plans",
                json={"date": day.isoformat(), "time_budget_seconds": arguments.day_budget},
                headers={**office, "Idempotency-Key": f"bench-{day}-{number}"},
            )
            measured.plans.append(ok(response, "plan"))
            measured.plan_seconds.append(seconds)
        plan = measured.plans[-1]
        response, measured.publish_seconds = timed_post(client, f"/api/v1/plans/{plan['id']}/publish", headers=office)
        ok(response, "publish")
        # The urgent order: one more order for a customer of the day who has none left open that day is not
        # possible (one open order per day), so an additional order for the first routed stop's customer.
        stop = next(s for route in plan["routes"] for s in route["stops"])
        created = client.post(
            "/api/v1/orders",
            json={
                "customer_id": stop["customer_id"],
                "scheduled_date": day.isoformat(),
                "window": {"start": "08:00", "end": "18:00"},
                "items": [{"product": "cylinder-20-regular", "quantity": 1}],
                "urgent": True,
                "additional": True,
                "payment_method": "cash",
            },
            headers={**office, "Idempotency-Key": f"bench-urgent-{day}"},
        )
        urgent = ok(created, "urgent order")
        ok(client.post(f"/api/v1/orders/{urgent['id']}/confirm", headers=office), "confirm urgent order")
        response, measured.urgent_seconds = timed_post(
            client, f"/api/v1/plans/{plan['id']}/urgent", json={"order_id": urgent["id"]}, headers=office
        )
        # 409 is an answer (it fits nowhere, with the reason); anything else is an error.
        if response.status_code not in (200, 409):
            ok(response, "urgent insertion")
        measured.urgent_placed = response.status_code == 200
    platform.check_alive()
    return measured


def report(measured: Measured) -> int:
    print()
    print("bench-routing: the realistic day through the API")
    print(f"  machine:  {os.cpu_count()} CPU(s) shared by the solver, every service, Postgres and Redis")
    if hasattr(os, "getloadavg"):
        print(f"  load:     load average {os.getloadavg()[0]:.1f} at the end")
    print(f"  orders:   {measured.orders} confirmed orders made through the gateway in {measured.make_seconds:.1f} s")
    for number, (plan, seconds) in enumerate(zip(measured.plans, measured.plan_seconds, strict=True), start=1):
        routed = sum(len(route["stops"]) for route in plan["routes"])
        reasons = dict(Counter(item["reason"] for item in plan["unplaced"]))
        print(
            f"  plan {number}: {seconds:5.1f} s wall (solver {plan['solve_seconds']:.1f} s of a "
            f"{measured.budget:g} s budget); {routed} routed, {len(plan['unplaced'])} unplaced {reasons}; "
            f"{plan['vehicles_used']} vehicles, {plan['distance_m'] / 1000:.0f} km, travel {plan['travel_source']}"
        )
    if measured.plans:
        for route in measured.plans[-1]["routes"]:
            print(
                f"    {route['vehicle_plate']:8s} {route['vehicle_kind']:12s} {len(route['stops']):3d} stops "
                f"{route['load_kg']:5d} kg  {route['distance_m'] / 1000:6.1f} km  "
                f"{taipei(route['start'])}–{taipei(route['end'])}"
            )
    print(f"  publish:  {measured.publish_seconds:.2f} s (assigns every routed order in the order service)")
    outcome = "placed" if measured.urgent_placed else "refused with its reason (fits nowhere)"
    print(f"  urgent:   {measured.urgent_seconds:.2f} s, {outcome}")
    worst = max(measured.plan_seconds, default=0.0)
    print(f"  aim: the day planned in ≤ {AIM_SECONDS:g} s end to end: worst {worst:.1f} s")
    return measured.errors


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--day-budget", type=float, default=5.0, help="solver seconds for the realistic day")
    parser.add_argument("--rounds", type=int, default=2, help="plans of the realistic day (new Idempotency-Key each)")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (data and logs) after the run")


def run(arguments: argparse.Namespace) -> None:
    if arguments.day_budget <= 0 or arguments.rounds < 1:
        raise SystemExit("--day-budget and --rounds must be positive")
    run_bench("bench-routing-day", arguments, bench, report)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m loadtests.bench_routing_day", description=__doc__.splitlines()[0])
    add_arguments(parser)
    run(parser.parse_args())


if __name__ == "__main__":
    main()
