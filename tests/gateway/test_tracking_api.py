"""Drivers' phones and the office through the gateway's REST API, with the real tracking service behind it.
The tracking rules are tested at its gRPC surface (tests/tracking); these tests are about what an HTTP client
sees: who may post for whom, problem+json naming fields, and idempotent batches."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from services.flags.app import RunningFlagService
from services.platform.clock import utc_now
from tests.gateway.conftest import bearer

POSITIONS = "/api/v1/drivers/me/positions"


@pytest.fixture
async def gateway(
    make_gateway: Callable[..., Awaitable[httpx.AsyncClient]],
    customer_server: int,
    tracking_server: int,
    flag_server: RunningFlagService,
) -> httpx.AsyncClient:
    return await make_gateway(
        f"127.0.0.1:{customer_server}",
        tracking_address=f"127.0.0.1:{tracking_server}",
        flags_address=f"127.0.0.1:{flag_server.port}",
    )


@pytest.fixture
async def driver(gateway: httpx.AsyncClient, tokens: dict[str, str]) -> dict[str, str]:
    """The test user "driver" with a tracking profile, as the demo seed gives every driver."""
    put = await gateway.put(
        "/api/v1/tracking/drivers/driver",
        json={"name": "林師傅", "phone": "0912-345-678", "vehicle_kind": "small_truck"},
        headers=bearer(tokens["dispatcher"]),
    )
    assert put.status_code == 200, put.text
    return bearer(tokens["driver"])


def fixes(count: int, *, start: datetime | None = None, **overrides: Any) -> list[dict[str, Any]]:
    first = start or utc_now() - timedelta(minutes=10)
    return [
        {
            "latitude": 22.7553 + 0.0005 * number,
            "longitude": 121.1504,
            "accuracy_m": 8.0,
            "battery": 0.9,
            "device_time": (first + timedelta(seconds=15 * number)).isoformat(),
            **overrides,
        }
        for number in range(count)
    ]


async def test_a_batch_sent_twice_is_stored_once_and_the_office_sees_the_latest_position(
    gateway: httpx.AsyncClient, driver: dict[str, str], tokens: dict[str, str]
) -> None:
    batch = {"batch_id": "phone-1-0001", "fixes": fixes(20)}

    first = await gateway.post(POSITIONS, json=batch, headers=driver)
    again = await gateway.post(POSITIONS, json=batch, headers=driver)
    live = await gateway.get("/api/v1/tracking/positions", headers=bearer(tokens["dispatcher"]))

    assert first.status_code == 200, first.text
    assert (first.json()["stored"], first.json()["replayed"]) == (20, False)
    assert (again.json()["stored"], again.json()["replayed"]) == (20, True)
    [latest] = live.json()
    assert latest["driver"] == "driver"
    assert latest["latitude"] == pytest.approx(22.7553 + 0.0005 * 19)


async def test_bad_fixes_are_refused_naming_each_field_and_nothing_is_stored(
    gateway: httpx.AsyncClient, driver: dict[str, str], tokens: dict[str, str]
) -> None:
    future = utc_now() + timedelta(days=1)
    bad = fixes(3)
    bad[0]["latitude"] = 91
    bad[2]["device_time"] = future.isoformat()

    refused = await gateway.post(POSITIONS, json={"batch_id": "phone-1-0002", "fixes": bad}, headers=driver)
    too_many = await gateway.post(POSITIONS, json={"batch_id": "phone-1-0003", "fixes": fixes(2001)}, headers=driver)
    for_another = await gateway.post(
        POSITIONS, json={"batch_id": "phone-1-0004", "driver": "driver02", "fixes": fixes(1)}, headers=driver
    )
    office = await gateway.post(
        POSITIONS, json={"batch_id": "x", "fixes": fixes(1)}, headers=bearer(tokens["dispatcher"])
    )
    live = await gateway.get("/api/v1/tracking/positions", headers=bearer(tokens["dispatcher"]))

    assert refused.status_code == 422
    assert refused.headers["content-type"] == "application/problem+json"
    assert {e["field"] for e in refused.json()["errors"]} == {"fixes[0].latitude", "fixes[2].device_time"}
    assert too_many.status_code == 422
    assert for_another.status_code == 422
    assert [e["field"] for e in for_another.json()["errors"]] == ["driver"]
    assert office.status_code == 403
    assert live.json() == []


async def test_a_stop_that_is_not_on_the_drivers_route_cannot_be_marked(
    gateway: httpx.AsyncClient, driver: dict[str, str]
) -> None:
    arrived = await gateway.post(
        "/api/v1/drivers/me/stops/00000000-0000-4000-8000-000000000000/arrived", headers=driver
    )

    assert arrived.status_code == 404
