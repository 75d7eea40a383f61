"""A realistic delivery day on the embedded platform, through the gateway: about 165 confirmed orders over the
zones (docs/domain.md's windows and mix), the demo fleet of 8 vehicles including one motorcycle, planned, published,
an urgent order inserted, and a driver's route updated. The plan is checked from what the API returns, apart
from the solver's own checker: every order once, windows, capacities, shifts and vehicle kinds."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from e2e.conftest import Platform, demo_platform, log_in
from loadtests.realistic_day import make_day
from services.platform.clock import taipei_date
from services.platform.products import FULL_CYLINDER_GROSS_KG, PRODUCTS

pytestmark = pytest.mark.e2e

TAIPEI = ZoneInfo("Asia/Taipei")
BUDGET_SECONDS = 5


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    with demo_platform(tmp_path_factory.mktemp("routing") / "luckygas") as running:
        yield running


def clock(moment: str) -> str:
    return datetime.fromisoformat(moment).astimezone(TAIPEI).strftime("%H:%M")


def check_plan(
    plan: dict[str, Any], orders: list[dict[str, Any]], fleet: dict[str, dict[str, Any]], needs: dict[str, str]
) -> None:
    """What the dispatcher is promised, checked on the API's answer."""
    placed = [stop["order_id"] for route in plan["routes"] for stop in route["stops"]]
    listed = [item["order_id"] for item in plan["unplaced"]]
    assert sorted(placed + listed) == sorted(order["id"] for order in orders), "every order exactly once"
    assert all(item["reason"] and item["detail"] for item in plan["unplaced"])
    for route in plan["routes"]:
        vehicle = fleet[route["vehicle_plate"]]
        assert clock(route["start"]) >= "08:00", route["vehicle_plate"]
        assert clock(route["end"]) <= "18:00", route["vehicle_plate"]
        # A trip runs from the depot to the next reload (or the end); each trip must fit the vehicle.
        reload_after = [reload["after_stops"] for reload in route["reloads"]]
        assert reload_after == sorted(reload_after), route["vehicle_plate"]
        trips: list[dict[int, int]] = [defaultdict(int)]
        previous = ""
        for index, stop in enumerate(route["stops"]):
            if index in reload_after:
                trips.append(defaultdict(int))
            start = clock(stop["service_start"])
            assert stop["window_start"] <= start <= stop["window_end"], stop
            assert previous <= clock(stop["eta"]), "stops in driving order"
            previous = clock(stop["service_start"])
            for item in stop["deliver"]:
                trips[-1][PRODUCTS[item["product"]].size_kg] += item["quantity"]
            need = needs[stop["order_id"]]
            assert (need == "motorcycle") <= (vehicle["kind"] == "motorcycle"), stop
            assert (need == "car") <= (vehicle["kind"] != "motorcycle"), stop
        weights = []
        for trip in trips:
            for size, count in trip.items():
                assert count <= vehicle["capacity"].get(str(size), 0), (route["vehicle_plate"], size, count)
            weights.append(sum(FULL_CYLINDER_GROSS_KG[size] * count for size, count in trip.items()))
            assert weights[-1] <= vehicle["max_load_kg"], (route["vehicle_plate"], weights[-1])
        assert max(weights) == route["load_kg"], "load_kg is the fullest trip"


def test_a_realistic_day_is_planned_published_and_an_urgent_order_reaches_the_drivers_route(
    platform: Platform,
) -> None:
    tomorrow = taipei_date(platform.now()) + timedelta(days=1)
    with httpx.Client(base_url=platform.base_url, timeout=120) as client:
        office = log_in(client, "dispatcher")
        orders = make_day(client, office, tomorrow)
        assert len(orders) >= 150
        customers = {
            order["customer_id"]: client.get(f"/api/v1/customers/{order['customer_id']}", headers=office).json()
            for order in orders
        }
        needs = {order["id"]: customers[order["customer_id"]]["vehicle_requirement"] for order in orders}
        fleet = {v["plate"]: v for v in client.get("/api/v1/fleet/vehicles", headers=office).json()}
        assert len(fleet) == 8
        assert sum(v["kind"] == "motorcycle" for v in fleet.values()) == 1

        planned = client.post(
            "/api/v1/plans",
            json={"date": tomorrow.isoformat(), "time_budget_seconds": BUDGET_SECONDS},
            headers={**office, "Idempotency-Key": f"e2e-{tomorrow}"},
        )
        assert planned.status_code == 201, planned.text
        plan = planned.json()
        check_plan(plan, orders, fleet, needs)
        placed = sum(len(route["stops"]) for route in plan["routes"])
        reasons = Counter(item["reason"] for item in plan["unplaced"])
        print(
            f"plan: {placed} of {len(orders)} orders routed on {plan['vehicles_used']} vehicles in "
            f"{plan['solve_seconds']:.1f} s; unplaced by reason: {dict(reasons)}"
        )

        published = client.post(f"/api/v1/plans/{plan['id']}/publish", headers=office)
        assert published.status_code == 200, published.text
        route = max(plan["routes"], key=lambda r: len(r["stops"]) if r["vehicle_kind"] != "motorcycle" else -1)
        driver = log_in(client, route["driver"])
        before = client.get("/api/v1/drivers/me/route", params={"date": tomorrow.isoformat()}, headers=driver)
        assert before.status_code == 200, before.text
        assert [s["order_id"] for s in before.json()["stops"]] == [s["order_id"] for s in route["stops"]]

        # An urgent call-in from a new customer next to the route's first stop, any time of the day.
        first = route["stops"][0]
        created = client.post(
            "/api/v1/customers",
            json={
                "code": "8800001",
                "short_name": "急件麵店",
                "invoice_title": "急件麵店",
                "phones": ["0932-555-123"],
                "address": "台東市中華路一段100號",
                "postal_code": "950",
                "zone": "B",
                "latitude": first["latitude"] + 0.001,
                "longitude": first["longitude"] + 0.001,
                "segment": "ordinary",
                "hourly_windows": [True] * 12,
                "slot_code": 0,
                "rest_days": "",
                "vehicle_requirement": "either",
                "cylinders": {"cylinder-20-regular": 1},
                "consumption_kg_per_day": 3.0,
                "max_cycle_days": 10,
                "slip_days": 3,
                "pricing_method": "cylinder",
                "payment_terms": "cash",
                "credit_limit": 10000,
            },
            headers=office,
        )
        assert created.status_code == 201, created.text
        urgent = client.post(
            "/api/v1/orders",
            json={
                "customer_id": created.json()["id"],
                "scheduled_date": tomorrow.isoformat(),
                "window": {"start": "08:00", "end": "18:00"},
                "urgent": True,
                "payment_method": "cash",
                "items": [{"product": "cylinder-20-regular", "quantity": 1}],
                "source": "call_in",
            },
            headers={**office, "Idempotency-Key": f"e2e-urgent-{tomorrow}"},
        )
        assert urgent.status_code == 201, urgent.text
        confirmed = client.post(f"/api/v1/orders/{urgent.json()['id']}/confirm", headers=office)
        assert confirmed.status_code == 200, confirmed.text

        inserted = client.post(
            f"/api/v1/plans/{plan['id']}/urgent", json={"order_id": urgent.json()["id"]}, headers=office
        )
        assert inserted.status_code == 200, inserted.text
        check_plan(inserted.json(), [*orders, confirmed.json()], fleet, {**needs, urgent.json()["id"]: "either"})
        [target] = [r for r in inserted.json()["routes"] if urgent.json()["id"] in [s["order_id"] for s in r["stops"]]]
        mine = client.get(
            "/api/v1/drivers/me/route", params={"date": tomorrow.isoformat()}, headers=log_in(client, target["driver"])
        )
        assert mine.status_code == 200, mine.text
        stops = mine.json()["stops"]
        assert urgent.json()["id"] in [s["order_id"] for s in stops]
        assert [s["urgent"] for s in stops if s["order_id"] == urgent.json()["id"]] == [True]
        order = client.get(f"/api/v1/orders/{urgent.json()['id']}", headers=office).json()
        assert (order["status"], order["route_id"]) == ("assigned", target["id"])
