"""The fleet, day plans and a driver's route through the gateway's REST API, with the real routing, order and
customer services behind it. The planning rules are tested at the routing service's gRPC surface
(tests/routing); these tests are about what an HTTP client sees."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import httpx
import pytest

from tests.gateway.conftest import bearer
from tests.gateway.factories import customer_body, order_body
from tests.order.factories import day

PROBLEM = "application/problem+json"
TRUCK = {"kind": "small_truck", "capacity": {"20": 30, "50": 4, "16": 8}, "max_load_kg": 1000}


@pytest.fixture
def gateway(platform_gateway: httpx.AsyncClient) -> httpx.AsyncClient:
    return platform_gateway


@pytest.fixture
def office(tokens: dict[str, str]) -> dict[str, str]:
    return bearer(tokens["dispatcher"])


def keyed(headers: dict[str, str]) -> dict[str, str]:
    return {**headers, "Idempotency-Key": f"plan-{uuid.uuid4()}"}


async def confirmed_orders(gateway: httpx.AsyncClient, office: dict[str, str], count: int) -> list[dict[str, Any]]:
    created = []
    for number in range(count):
        customer = await gateway.post(
            "/api/v1/customers",
            json=customer_body(
                code=f"{7100001 + number}",
                latitude=22.7553 + 0.003 * (number % 3),
                longitude=121.1504 + 0.004 * (number // 3),
                rest_days="",
                vehicle_requirement="car",
            ),
            headers=office,
        )
        assert customer.status_code == 201, customer.text
        order = await gateway.post(
            "/api/v1/orders",
            json=order_body(customer.json()["id"], window={"start": "08:00", "end": "17:00"}),
            headers={**office, "Idempotency-Key": f"order-{number}"},
        )
        assert order.status_code == 201, order.text
        confirmed = await gateway.post(f"/api/v1/orders/{order.json()['id']}/confirm", headers=office)
        assert confirmed.status_code == 200, confirmed.text
        created.append(confirmed.json())
    return created


async def put_truck(gateway: httpx.AsyncClient, office: dict[str, str], driver: str = "driver") -> None:
    vehicle = await gateway.put("/api/v1/fleet/vehicles/LG-3001", json=TRUCK, headers=office)
    assert vehicle.status_code == 200, vehicle.text
    shift = await gateway.put(f"/api/v1/fleet/shifts/{day(1)}/LG-3001", json={"driver": driver}, headers=office)
    assert shift.status_code == 200, shift.text


async def test_a_dispatcher_plans_and_publishes_a_day_and_the_driver_gets_the_stops_in_order(
    gateway: httpx.AsyncClient, office: dict[str, str], tokens: dict[str, str]
) -> None:
    await put_truck(gateway, office)
    orders = await confirmed_orders(gateway, office, 5)
    headers = keyed(office)

    planned = await gateway.post("/api/v1/plans", json={"date": day(1), "time_budget_seconds": 1}, headers=headers)
    retried = await gateway.post("/api/v1/plans", json={"date": day(1), "time_budget_seconds": 1}, headers=headers)
    assert planned.status_code == 201, planned.text
    plan = planned.json()
    assert retried.json()["id"] == plan["id"]
    assert planned.headers["Location"] == f"/api/v1/plans/{plan['id']}"
    assert plan["status"] == "draft"
    assert plan["unplaced"] == []
    [route] = plan["routes"]
    assert sorted(stop["order_id"] for stop in route["stops"]) == sorted(order["id"] for order in orders)
    assert route["load"] == {"20": 10}  # JSON object keys are strings
    assert route["load_kg"] == 300
    # ETAs are Taipei times, like the windows next to them, and fall inside the day planned.
    etas = [datetime.fromisoformat(stop["eta"]) for stop in route["stops"]]
    assert all(stop["eta"].endswith("+08:00") for stop in route["stops"]), route["stops"]
    assert {eta.date().isoformat() for eta in etas} == {day(1)}

    published = await gateway.post(f"/api/v1/plans/{plan['id']}/publish", headers=office)
    mine = await gateway.get("/api/v1/drivers/me/route", params={"date": day(1)}, headers=bearer(tokens["driver"]))
    current = await gateway.get("/api/v1/plans", params={"date": day(1)}, headers=office)

    assert published.status_code == 200, published.text
    assert published.json()["status"] == "published"
    assert mine.status_code == 200, mine.text
    assert [stop["order_id"] for stop in mine.json()["stops"]] == [stop["order_id"] for stop in route["stops"]]
    first = mine.json()["stops"][0]
    assert first["deliver"] == first["collect"] == [{"product": "cylinder-20-regular", "quantity": 2}]
    assert current.json()["id"] == plan["id"]
    order = await gateway.get(f"/api/v1/orders/{orders[0]['id']}", headers=office)
    assert (order.json()["status"], order.json()["route_id"]) == ("assigned", route["id"])


async def test_bad_planning_requests_are_4xx_problems_naming_what_is_wrong(
    gateway: httpx.AsyncClient, office: dict[str, str], tokens: dict[str, str]
) -> None:
    await put_truck(gateway, office)

    no_orders = await gateway.post("/api/v1/plans", json={"date": day(1)}, headers=keyed(office))
    budget = await gateway.post(
        "/api/v1/plans", json={"date": day(1), "time_budget_seconds": 600}, headers=keyed(office)
    )
    no_key = await gateway.post("/api/v1/plans", json={"date": day(1)}, headers=office)
    empty_truck = await gateway.put(
        "/api/v1/fleet/vehicles/LG-3002",
        json={"kind": "van", "capacity": {"20": 0}, "max_load_kg": 500},
        headers=office,
    )
    unknown_plan = await gateway.get(f"/api/v1/plans/{uuid.uuid4()}", headers=office)
    no_route = await gateway.get("/api/v1/drivers/me/route", headers=bearer(tokens["driver"]))

    assert (no_orders.status_code, no_orders.headers["content-type"]) == (409, PROBLEM)
    assert "no confirmed orders" in no_orders.json()["detail"]
    assert budget.status_code == 422
    assert [error["field"] for error in budget.json()["errors"]] == ["time_budget_seconds"]
    assert no_key.status_code == 422
    assert empty_truck.status_code == 422
    assert [error["field"] for error in empty_truck.json()["errors"]] == ["vehicle.capacity"]
    assert unknown_plan.status_code == 404
    assert no_route.status_code == 404
