"""Object-level access: the role table says who may call a route; this says on *which* objects. A driver acts only on
the orders and stops of their own published route, a customer only on their own orders; another's object looks
exactly like a missing one (404), and nothing of it changes.

Walked from one table of every route that takes an object's id and that a driver or a customer may call: a new such
route fails the first test until it is added here, and then each role is tried on an object it owns and on one it
does not. Office roles act on every object, as the role table says (test_rbac.py).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
from fastapi.routing import APIRoute

from services.gateway.app import API_ROUTERS
from services.gateway.tokens import AccessClaims, TokenSigner
from services.platform.database import Database
from services.platform.outbox import OutboxRelay
from services.routing.models import OUTBOX as ROUTING_OUTBOX
from services.tracking.app import consumers as tracking_consumers
from tests.gateway.conftest import TEST_SECRET, bearer
from tests.gateway.factories import customer_body, declared_roles, delivery_body, order_body
from tests.order.factories import day

# Roles whose reach is some objects, not all of a kind.
SCOPED_ROLES = {"driver", "customer"}
OWN_CUSTOMER_CODE = "1000001"  # the customer test user's code (tests/gateway/conftest.py: tokens)
OTHER_DRIVER = "driver02"

# (method, path) → {scoped role: the kind of object the id names}
OBJECT_ROUTES: dict[tuple[str, str], dict[str, str]] = {
    ("GET", "/api/v1/orders/{order_id}"): {"customer": "order"},
    ("POST", "/api/v1/orders/{order_id}/start-delivery"): {"driver": "order"},
    ("POST", "/api/v1/orders/{order_id}/delivery"): {"driver": "order"},
    ("POST", "/api/v1/orders/{order_id}/failure"): {"driver": "order"},
    ("POST", "/api/v1/drivers/me/stops/{stop_id}/arrived"): {"driver": "stop"},
    ("POST", "/api/v1/drivers/me/stops/{stop_id}/delivered"): {"driver": "stop"},
    ("POST", "/api/v1/drivers/me/stops/{stop_id}/failed"): {"driver": "stop"},
}
DELIVERED = ("/delivery", "/delivered")
FAILED = ("/failure", "/failed")


def test_every_route_a_driver_or_customer_calls_on_an_id_is_in_the_object_table(embedded_stores: object) -> None:
    found = {}
    for router in API_ROUTERS:
        for route in router.routes:
            if not isinstance(route, APIRoute) or "{" not in route.path:
                continue
            scoped = set(declared_roles(route)) & SCOPED_ROLES
            for method in route.methods if scoped else ():
                found[(method, route.path)] = scoped
    assert {key: set(roles) for key, roles in OBJECT_ROUTES.items()} == found


@dataclass
class TwoRoutes:
    """Tomorrow's published plan: "driver" delivers the own customer's order, driver02 another customer's."""

    office: dict[str, str]
    mine: dict[str, Any]  # the order of the own customer, on "driver"'s route
    theirs: dict[str, Any]  # another customer's order, on driver02's route
    my_stop: str
    their_stop: str


@pytest.fixture
def gateway(platform_gateway: httpx.AsyncClient) -> httpx.AsyncClient:
    return platform_gateway


def token_of(username: str, role: str, customer_code: str | None = None) -> dict[str, str]:
    signer = TokenSigner(TEST_SECRET, access_seconds=600, refresh_seconds=3600)
    return bearer(signer.access_token(AccessClaims(uuid.uuid4(), username, role, customer_code)))


async def ok(response: Awaitable[httpx.Response], status: int = 200) -> dict[str, Any]:
    answered = await response
    assert answered.status_code == status, answered.text
    return dict(answered.json())


async def confirmed_order(gateway: httpx.AsyncClient, office: dict[str, str], **customer: Any) -> dict[str, Any]:
    made = await ok(
        gateway.post("/api/v1/customers", json=customer_body(rest_days="", **customer), headers=office), 201
    )
    body = order_body(made["id"], scheduled_date=day(1), window={"start": "08:00", "end": "17:00"})
    order = await ok(
        gateway.post("/api/v1/orders", json=body, headers={**office, "Idempotency-Key": made["code"]}), 201
    )
    return await ok(gateway.post(f"/api/v1/orders/{order['id']}/confirm", headers=office))


@pytest.fixture
async def two_routes(
    gateway: httpx.AsyncClient, tokens: dict[str, str], database: Database, redis_client: aioredis.Redis
) -> TwoRoutes:
    office = bearer(tokens["dispatcher"])
    fleet = [
        ("LG-3101", "driver", {"kind": "small_truck", "capacity": {"20": 30}, "max_load_kg": 1000}),
        ("LG-3102", OTHER_DRIVER, {"kind": "motorcycle", "capacity": {"20": 4}, "max_load_kg": 150}),
    ]
    for plate, driver, vehicle in fleet:
        await ok(gateway.put(f"/api/v1/fleet/vehicles/{plate}", json=vehicle, headers=office))
        await ok(gateway.put(f"/api/v1/fleet/shifts/{day(1)}/{plate}", json={"driver": driver}, headers=office))
        profile = {"name": driver, "phone": "0912-345-678", "vehicle_kind": vehicle["kind"]}
        await ok(gateway.put(f"/api/v1/tracking/drivers/{driver}", json=profile, headers=office))
    # Only the motorcycle reaches a motorcycle-only customer, and it never serves a car-only one.
    mine = await confirmed_order(gateway, office, code=OWN_CUSTOMER_CODE, vehicle_requirement="car")
    theirs = await confirmed_order(gateway, office, code="7200002", vehicle_requirement="motorcycle")
    plan = await ok(
        gateway.post(
            "/api/v1/plans",
            json={"date": day(1), "time_budget_seconds": 1},
            headers={**office, "Idempotency-Key": "object-access"},
        ),
        201,
    )
    await ok(gateway.post(f"/api/v1/plans/{plan['id']}/publish", headers=office))
    stops = {stop["order_id"]: (route["driver"], stop["id"]) for route in plan["routes"] for stop in route["stops"]}
    assert (stops[mine["id"]][0], stops[theirs["id"]][0]) == ("driver", OTHER_DRIVER), stops
    routes = TwoRoutes(office, mine, theirs, stops[mine["id"]][1], stops[theirs["id"]][1])
    # Tracking learns of published routes from routing's events. The relay and the consumers run in the services'
    # processes (serve), not beside these in-process servers: run the real ones here, as those processes would.
    await OutboxRelay(database, ROUTING_OUTBOX, redis_client).publish_pending()
    for consumer in tracking_consumers(redis_client, database, "object-access", block_ms=5):
        while await consumer.run_once():
            pass
    for driver, stop in (("driver", routes.my_stop), (OTHER_DRIVER, routes.their_stop)):
        progress = await ok(
            gateway.get("/api/v1/drivers/me/progress", params={"date": day(1)}, headers=token_of(driver, "driver"))
        )
        assert stop in [state["stop_id"] for state in progress["stops"]], progress
    return routes


def request_for(path: str, object_id: str) -> tuple[str, dict[str, Any] | None, dict[str, str]]:
    """The URL, JSON body and extra headers of a well-formed call on ``object_id``."""
    url = path.replace("{order_id}", object_id).replace("{stop_id}", object_id)
    key = {"Idempotency-Key": f"object-access-{uuid.uuid4()}"}
    if url.endswith(DELIVERED):
        return url, delivery_body(), key
    if url.endswith(FAILED):
        return url, {"reason": "not_home"}, key
    return url, None, {}


CASES = [(method, path, role) for (method, path), roles in OBJECT_ROUTES.items() for role in roles]


@pytest.mark.parametrize(("method", "path", "role"), CASES, ids=lambda value: str(value))
async def test_a_scoped_role_acts_on_its_own_object_and_another_looks_missing(
    gateway: httpx.AsyncClient, two_routes: TwoRoutes, tokens: dict[str, str], method: str, path: str, role: str
) -> None:
    kind = OBJECT_ROUTES[(method, path)][role]
    own, foreign = (
        (two_routes.mine["id"], two_routes.theirs["id"])
        if kind == "order"
        else (two_routes.my_stop, two_routes.their_stop)
    )
    subject = bearer(tokens[role])  # "driver" drives the own route; "customer" is customer 1000001
    day_of_route = {"date": day(1)}

    url, body, extra = request_for(path, foreign)
    refused = await gateway.request(method, url, json=body, params=day_of_route, headers={**subject, **extra})
    theirs_after = await ok(gateway.get(f"/api/v1/orders/{two_routes.theirs['id']}", headers=two_routes.office))

    url, body, extra = request_for(path, own)
    if path.startswith("/api/v1/orders/") and url.endswith(DELIVERED + FAILED):
        # The driver's usual steps: set off, then the visit (the order service would also set an assigned order off).
        await ok(gateway.post(f"/api/v1/orders/{own}/start-delivery", headers=subject))
    allowed = await gateway.request(method, url, json=body, params=day_of_route, headers={**subject, **extra})

    assert refused.status_code == 404, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    assert theirs_after["status"] == "assigned"
    assert theirs_after["version"] == two_routes.theirs["version"] + 1  # confirmed, then assigned: nothing since
    assert allowed.status_code == 200, allowed.text
