"""The whole role × route matrix, unauthenticated included, walked from one table."""

from __future__ import annotations

import uuid

import httpx
import pytest
from fastapi.routing import APIRoute

from services.gateway.app import API_ROUTERS, PLUMBING_ROUTERS, create_app
from tests.gateway.conftest import ROLES, bearer, gateway_settings
from tests.gateway.factories import declared_roles

OFFICE = {"admin", "dispatcher"}
EVERYONE = set(ROLES)
FLAG_READERS = {"admin", "dispatcher", "sre"}
FLAG_WRITERS = {"admin", "sre"}
MIGRATION_READERS = {"admin", "dispatcher", "sre"}
MIGRATION_WRITERS = {"admin", "sre"}
PUBLIC = None

# (method, path, roles allowed); PUBLIC routes need no token.
MATRIX: list[tuple[str, str, set[str] | None]] = [
    ("POST", "/api/v1/auth/login", PUBLIC),
    ("POST", "/api/v1/auth/refresh", PUBLIC),
    ("POST", "/api/v1/auth/logout", EVERYONE),
    ("POST", "/api/v1/auth/logout-all", EVERYONE),
    ("GET", "/api/v1/auth/me", EVERYONE),
    ("POST", "/api/v1/auth/password", EVERYONE),
    ("POST", "/api/v1/users/{username}/disable", {"admin"}),
    ("POST", "/api/v1/users/{username}/enable", {"admin"}),
    ("POST", "/api/v1/customers", OFFICE),
    ("GET", "/api/v1/customers", OFFICE),
    ("GET", "/api/v1/customers/{customer_id}", OFFICE),
    ("PATCH", "/api/v1/customers/{customer_id}", OFFICE),
    ("POST", "/api/v1/customers/{customer_id}/terminate", OFFICE),
    ("POST", "/api/v1/orders", OFFICE),
    ("GET", "/api/v1/orders", OFFICE),
    ("GET", "/api/v1/orders/due", OFFICE),
    ("POST", "/api/v1/orders/due/orders", OFFICE),
    ("GET", "/api/v1/orders/{order_id}", OFFICE | {"customer"}),
    ("POST", "/api/v1/orders/{order_id}/confirm", OFFICE),
    ("POST", "/api/v1/orders/{order_id}/cancel", OFFICE),
    ("POST", "/api/v1/orders/{order_id}/assign", OFFICE),
    ("POST", "/api/v1/orders/{order_id}/start-delivery", OFFICE | {"driver"}),
    ("POST", "/api/v1/orders/{order_id}/delivery", OFFICE | {"driver"}),
    ("POST", "/api/v1/orders/{order_id}/failure", OFFICE | {"driver"}),
    ("GET", "/api/v1/fleet/depots", OFFICE),
    ("PUT", "/api/v1/fleet/depots/{code}", OFFICE),
    ("GET", "/api/v1/fleet/vehicles", OFFICE),
    ("PUT", "/api/v1/fleet/vehicles/{plate}", OFFICE),
    ("GET", "/api/v1/fleet/shifts", OFFICE),
    ("PUT", "/api/v1/fleet/shifts/{day}/{plate}", OFFICE),
    ("DELETE", "/api/v1/fleet/shifts/{day}/{plate}", OFFICE),
    ("POST", "/api/v1/plans", OFFICE),
    ("GET", "/api/v1/plans", OFFICE),
    ("GET", "/api/v1/plans/{plan_id}", OFFICE),
    ("POST", "/api/v1/plans/{plan_id}/publish", OFFICE),
    ("POST", "/api/v1/plans/{plan_id}/urgent", OFFICE),
    ("POST", "/api/v1/plans/{plan_id}/reoptimize", OFFICE),
    ("GET", "/api/v1/drivers/me/route", {"admin", "driver"}),
    ("POST", "/api/v1/drivers/me/positions", {"admin", "driver"}),
    ("POST", "/api/v1/drivers/me/clock-in", {"admin", "driver"}),
    ("POST", "/api/v1/drivers/me/clock-out", {"admin", "driver"}),
    ("GET", "/api/v1/drivers/me/progress", {"admin", "driver"}),
    ("POST", "/api/v1/drivers/me/stops/{stop_id}/arrived", {"admin", "driver"}),
    ("POST", "/api/v1/drivers/me/stops/{stop_id}/delivered", {"admin", "driver"}),
    ("POST", "/api/v1/drivers/me/stops/{stop_id}/failed", {"admin", "driver"}),
    ("GET", "/api/v1/tracking/drivers", OFFICE),
    ("PUT", "/api/v1/tracking/drivers/{username}", OFFICE),
    ("GET", "/api/v1/tracking/positions", OFFICE),
    ("GET", "/api/v1/tracking/nearest", OFFICE),
    ("GET", "/api/v1/tracking/drivers/{username}/track", OFFICE),
    ("GET", "/api/v1/flags", FLAG_READERS),
    ("GET", "/api/v1/flags/audit", FLAG_READERS),
    ("GET", "/api/v1/flags/{key}", FLAG_READERS),
    ("PUT", "/api/v1/flags/{key}", FLAG_WRITERS),
    ("POST", "/api/v1/flags/{key}/kill", FLAG_WRITERS),
    ("POST", "/api/v1/flags/{key}/restore", FLAG_WRITERS),
    ("GET", "/api/v1/flags/{key}/audit", FLAG_READERS),
    ("POST", "/api/v1/flags/{key}/evaluate", FLAG_READERS),
    ("GET", "/api/v1/customers/{customer_id}/flags", OFFICE),
    ("PUT", "/api/v1/pilot/{key}/cohort", FLAG_WRITERS),
    ("POST", "/api/v1/pilot/{key}/cohort/grow", FLAG_WRITERS),
    ("PUT", "/api/v1/pilot/{key}/percentage", FLAG_WRITERS),
    ("GET", "/api/v1/migration/status", MIGRATION_READERS),
    ("POST", "/api/v1/migration/backfill", MIGRATION_WRITERS),
    ("GET", "/api/v1/migration/backfill", MIGRATION_READERS),
    ("GET", "/api/v1/migration/backfill/rejections", MIGRATION_READERS),
    ("POST", "/api/v1/migration/reconcile", MIGRATION_WRITERS),
    ("GET", "/api/v1/migration/reconcile/reports", MIGRATION_READERS),
    ("GET", "/api/v1/migration/reconcile/reports/{report_id}", MIGRATION_READERS),
    ("GET", "/api/v1/migration/cutovers", MIGRATION_READERS),
    ("GET", "/api/v1/migration/customers/{code}/cutovers", MIGRATION_READERS),
    ("GET", "/api/v1/migration/conflicts", MIGRATION_READERS),
    ("POST", "/api/v1/migration/conflicts/{conflict_id}/resolve", MIGRATION_WRITERS),
    ("GET", "/healthz", PUBLIC),
    ("GET", "/readyz", PUBLIC),
    ("GET", "/metrics", PUBLIC),
]


def test_the_matrix_lists_every_route_and_each_declares_its_roles(embedded_stores: object) -> None:
    routes = {
        (method, route.path): route
        for router in (*API_ROUTERS, *PLUMBING_ROUTERS)
        for route in router.routes
        if isinstance(route, APIRoute)
        for method in route.methods
    }
    assert set(routes) == {(method, path) for method, path, _ in MATRIX}
    documented = create_app(gateway_settings("127.0.0.1:1")).openapi()["paths"]
    assert {path for _, path, _ in MATRIX} - {"/metrics"} == set(documented)
    for method, path, allowed in MATRIX:
        declared = declared_roles(routes[(method, path)])
        if allowed is PUBLIC:
            assert declared is None, f"{method} {path} is public but declares roles"
        else:
            assert declared == allowed, f"{method} {path} must declare its roles exactly once"


CASES = [(method, path, role) for method, path, allowed in MATRIX if allowed is not PUBLIC for role in [None, *ROLES]]


@pytest.mark.parametrize(("method", "path", "role"), CASES, ids=lambda v: str(v))
async def test_role_may_call_route_only_if_allowed(
    gateway: httpx.AsyncClient, tokens: dict[str, str], method: str, path: str, role: str | None
) -> None:
    allowed = next(roles for m, p, roles in MATRIX if (m, p) == (method, path))
    headers = bearer(tokens[role]) if role else {}
    url = path.replace("{customer_id}", str(uuid.uuid4())).replace("{order_id}", str(uuid.uuid4()))
    url = url.replace("{key}", "rbac-probe").replace("{code}", "rbac-probe").replace("{plate}", "RBAC-1")
    url = url.replace("{day}", "2030-01-02").replace("{plan_id}", str(uuid.uuid4()))
    url = url.replace("{stop_id}", str(uuid.uuid4())).replace("{username}", "driver01")

    response = await gateway.request(method, url, headers=headers, json={})

    if role is None:
        assert response.status_code == 401
    elif role in allowed:  # type: ignore[operator]
        assert response.status_code not in (401, 403), response.text
    else:
        assert response.status_code == 403
        assert response.headers["content-type"] == "application/problem+json"
        # The refusal names who may: the route's roles, admin always among them.
        assert response.json()["detail"].endswith(f"it is for: {', '.join(sorted(allowed))}"), response.text  # type: ignore[arg-type]
