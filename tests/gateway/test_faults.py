"""The fault.gateway flag: set through the gateway's own flag API, taken in-process by the gateway's watcher,
and applied to the REST routes it names."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from tests.gateway.conftest import bearer
from tests.gateway.factories import customer_body

FLAG = "/api/v1/flags/fault.gateway"
ONE_CUSTOMER = "GET /api/v1/customers/{customer_id}"
# Large enough that "not slowed" (under half of it) holds for the other route even on a saturated machine.
LATENCY_MS = 3000


def fault_flag(fault: dict[str, Any]) -> dict[str, Any]:
    return {"state": "ENABLED", "variants": {"fault": fault, "none": {}}, "defaultVariant": "fault"}


async def until(check: Callable[[], Awaitable[bool]], within: float = 60.0) -> None:
    """Waits (bounded) for the gateway's watcher to take a change: flags apply asynchronously."""
    deadline = time.monotonic() + within
    while not await check():
        assert time.monotonic() < deadline, f"the change did not reach the gateway within {within} s"
        await asyncio.sleep(0.05)


async def timed(gateway: httpx.AsyncClient, path: str, headers: dict[str, str]) -> tuple[httpx.Response, float]:
    started = time.perf_counter()
    response = await gateway.get(path, headers=headers)
    return response, time.perf_counter() - started


async def test_an_error_fault_fails_the_named_route_with_problem_json_and_the_kill_switch_lifts_it(
    gateway: httpx.AsyncClient, tokens: dict[str, str]
) -> None:
    office, sre = bearer(tokens["dispatcher"]), bearer(tokens["sre"])
    created = await gateway.post("/api/v1/customers", json=customer_body(code="5100001"), headers=office)
    assert created.status_code == 201, created.text
    one = f"/api/v1/customers/{created.json()['id']}"
    fault = {"error_rate": 1.0, "error_code": "UNAVAILABLE", "methods": [ONE_CUSTOMER]}
    put = await gateway.put(FLAG, json={"definition": fault_flag(fault), "reason": "chaos test"}, headers=sre)
    assert put.status_code == 201, put.text

    async def failing() -> bool:
        return (await gateway.get(one, headers=office)).status_code == 503

    await until(failing)
    failed = await gateway.get(one, headers=office)
    searched = await gateway.get("/api/v1/customers", params={"q": "5100001"}, headers=office)
    health = await gateway.get("/healthz")
    assert failed.headers["content-type"] == "application/problem+json"
    assert failed.json()["status"] == 503
    assert "fault.gateway" in failed.json()["detail"]
    assert searched.status_code == 200, "the fault names one route only"
    assert health.status_code == 200, "probes are never faulted"

    killed = await gateway.post(f"{FLAG}/kill", json={"reason": "end of test"}, headers=sre)
    assert killed.status_code == 200, killed.text

    async def answering() -> bool:
        return (await gateway.get(one, headers=office)).status_code == 200

    await until(answering)


async def test_a_latency_fault_on_a_path_template_slows_that_route_and_not_others(
    gateway: httpx.AsyncClient, tokens: dict[str, str]
) -> None:
    office, sre = bearer(tokens["dispatcher"]), bearer(tokens["sre"])
    created = await gateway.post("/api/v1/customers", json=customer_body(code="5100002"), headers=office)
    assert created.status_code == 201, created.text
    one = f"/api/v1/customers/{created.json()['id']}"
    fault = {"latency_ms": [LATENCY_MS, LATENCY_MS], "methods": ["/api/v1/customers/{customer_id}"]}
    put = await gateway.put(FLAG, json={"definition": fault_flag(fault), "reason": "chaos test"}, headers=sre)
    assert put.status_code == 201, put.text

    async def slow() -> bool:
        return (await timed(gateway, one, office))[1] >= LATENCY_MS / 1000

    await until(slow)
    response, seconds = await timed(gateway, one, office)
    _, search_seconds = await timed(gateway, "/api/v1/customers?q=5100002", office)
    assert response.status_code == 200, response.text
    assert seconds >= LATENCY_MS / 1000
    assert search_seconds < LATENCY_MS / 1000 / 2, "only the named route is slowed"
