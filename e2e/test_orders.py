"""Orders on the embedded platform: a dispatcher's order reaches a WebSocket client live at every step, and
invalid orders are refused naming the field without writing anything.

How soon each event reaches the live feed is measured and printed against the one-second target (and benchmarked by
`make bench-orders`); the test fails only when an event does not arrive within LIVE_ARRIVES_WITHIN_SECONDS, a bound a
busy machine cannot reach. Dates are Taipei dates on the platform's clock, read when the test runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import date, timedelta
from typing import Any

import httpx
import pytest
import websockets

from e2e.conftest import Platform, customer_body, demo_platform, log_in
from services.platform.clock import taipei_date
from tests.gateway.factories import delivery_body, order_body

pytestmark = pytest.mark.e2e

ORDERS = "/api/v1/orders"
# Issue 3 §3: order and delivery events reach the live feed within a second of the commit. Printed, not asserted.
LIVE_TARGET_SECONDS = 1.0
LIVE_ARRIVES_WITHIN_SECONDS = 30.0


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    """One platform for this file: `up --seed demo` takes most of a minute."""
    with demo_platform(tmp_path_factory.mktemp("orders") / "luckygas") as running:
        yield running


@pytest.fixture(scope="module")
def office(platform: Platform) -> dict[str, str]:
    with httpx.Client(base_url=platform.base_url, timeout=10) as client:
        return log_in(client, "dispatcher")


@pytest.fixture(scope="module")
def cash_customers(platform: Platform, office: dict[str, str]) -> list[dict[str, Any]]:
    """Demo customers who pay cash and may order: neither blocked nor terminated."""
    with httpx.Client(base_url=platform.base_url, timeout=10) as client:
        page = client.get("/api/v1/customers", params={"terminated": False, "page_size": 200}, headers=office)
    assert page.status_code == 200, page.text
    found = [c for c in page.json()["items"] if c["payment_terms"] == "cash" and not c["blocked"]]
    assert len(found) >= 2, "the demo data should have cash customers in good standing"
    return found


def keyed(headers: dict[str, str]) -> dict[str, str]:
    return {**headers, "Idempotency-Key": f"e2e-{uuid.uuid4()}"}


def platform_today(platform: Platform) -> date:
    """Today in Taipei, on the platform's clock."""
    return taipei_date(platform.now())


def day(today: date, offset: int) -> str:
    """``today`` plus ``offset`` days, as the API spells dates."""
    return (today + timedelta(days=offset)).isoformat()


class LiveFeed:
    """The socket read in the background, each message noted with when it arrived, so latency is measured there."""

    def __init__(self) -> None:
        self.arrivals: asyncio.Queue[tuple[float, dict[str, Any]]] = asyncio.Queue()
        self.latencies: dict[str, float] = {}  # event type → seconds from the HTTP answer to its arrival here

    async def read(self, connection: Any) -> None:
        async for raw in connection:
            await self.arrivals.put((time.monotonic(), json.loads(raw)))

    async def next_about(
        self, order_id: str, within: float = LIVE_ARRIVES_WITHIN_SECONDS
    ) -> tuple[float, dict[str, Any]]:
        """The next event about ``order_id`` (events about other orders are skipped) and when it arrived."""
        deadline = time.monotonic() + within
        while True:
            try:
                arrived, message = await asyncio.wait_for(self.arrivals.get(), max(deadline - time.monotonic(), 0))
            except TimeoutError:
                pytest.fail(f"no event about order {order_id} within {within} s")
            if message.get("payload", {}).get("order_id") == order_id:
                return arrived, message


@contextlib.asynccontextmanager
async def live_feed(platform: Platform, office: dict[str, str]) -> AsyncIterator[LiveFeed]:
    """A dispatcher's WebSocket on /api/v1/live, past its live.ready: nothing published from then on is missed."""
    token = office["Authorization"].removeprefix("Bearer ")
    url = platform.base_url.replace("http://", "ws://", 1) + f"/api/v1/live?access_token={token}"
    async with websockets.connect(url) as connection:
        ready = await asyncio.wait_for(connection.recv(), LIVE_ARRIVES_WITHIN_SECONDS)
        assert json.loads(ready) == {"type": "live.ready"}
        feed = LiveFeed()
        reading = asyncio.create_task(feed.read(connection))
        try:
            yield feed
        finally:
            reading.cancel()


async def expect_live(
    feed: LiveFeed, order_id: str, event_type: str, answered_at: float, status: str
) -> dict[str, Any]:
    arrived, event = await feed.next_about(order_id)
    assert event["type"] == event_type, event
    assert event["aggregate_id"] == order_id
    assert event["payload"]["status"] == status
    assert event["cursor"].startswith("events.order/")
    feed.latencies[event_type] = arrived - answered_at
    return event


async def test_a_dispatchers_order_is_streamed_live_from_creation_to_delivery(
    platform: Platform, office: dict[str, str], cash_customers: list[dict[str, Any]]
) -> None:
    customer = cash_customers[0]
    async with httpx.AsyncClient(base_url=platform.base_url, timeout=10) as client, live_feed(platform, office) as feed:
        tomorrow = day(platform_today(platform), 1)
        created = await client.post(
            ORDERS, json=order_body(customer["id"], scheduled_date=tomorrow), headers=keyed(office)
        )
        answered_at = time.monotonic()
        assert created.status_code == 201, created.text
        order = created.json()
        event = await expect_live(feed, order["id"], "order.created", answered_at, "pending")
        assert (event["payload"]["number"], event["payload"]["total"]) == (order["number"], order["total"])
        assert event["payload"]["customer_code"] == customer["code"]

        steps = [
            ("confirm", None, "order.confirmed", "confirmed"),
            ("assign", {"route_id": "R-E2E-01"}, "order.assigned", "assigned"),
            ("start-delivery", None, "order.delivery_started", "in_delivery"),
        ]
        versions = [int(event["aggregate_version"])]
        for step, body, event_type, status in steps:
            response = await client.post(f"{ORDERS}/{order['id']}/{step}", json=body, headers=office)
            answered_at = time.monotonic()
            assert response.status_code == 200, response.text
            assert response.json()["status"] == status
            event = await expect_live(feed, order["id"], event_type, answered_at, status)
            versions.append(int(event["aggregate_version"]))

        delivered = await client.post(f"{ORDERS}/{order['id']}/delivery", json=delivery_body(), headers=keyed(office))
        answered_at = time.monotonic()
        assert delivered.status_code == 200, delivered.text
        assert delivered.json()["proof"]["has_signature"] is True
        event = await expect_live(feed, order["id"], "delivery.completed", answered_at, "delivered")
        versions.append(int(event["aggregate_version"]))
        assert event["payload"]["cash_collected"] == 1596
        assert "signature_png" not in event["payload"]
        assert versions == [1, 2, 3, 4, 5]
    print(
        "\nlive feed, after the HTTP answer: "
        + ", ".join(f"{event_type} {seconds * 1000:.0f} ms" for event_type, seconds in feed.latencies.items())
        + f"; target {LIVE_TARGET_SECONDS:.0f} s each (negative: on the feed before the HTTP answer was read)"
    )


def invalid_for_a_good_customer(today: date) -> list[tuple[str, dict[str, Any], int, str]]:
    """Issue 3 §4's invalid payloads for a customer in good standing, and the field each must be refused on.

    Dated from ``today`` as the platform saw it just before. Each date stays what it is meant to be if Taipei's
    midnight passes before the platform checks it: yesterday stays past, and the date 32 days ahead stays more than 30
    days ahead (31, the first refused, would become 30; tests/order checks that exact boundary).
    """
    return [
        ("past date", {"scheduled_date": day(today, -1)}, 422, "scheduled_date"),
        ("more than 30 days ahead", {"scheduled_date": day(today, 32)}, 422, "scheduled_date"),
        ("no items", {"items": []}, 422, "items"),
        ("quantity 0", {"items": [{"product": "cylinder-20-regular", "quantity": 0}]}, 422, "items[0].quantity"),
        ("quantity 101", {"items": [{"product": "cylinder-20-regular", "quantity": 101}]}, 422, "items[0].quantity"),
        ("window start = end", {"window": {"start": "10:00", "end": "10:00"}}, 422, "window.end"),
        ("window start > end", {"window": {"start": "12:00", "end": "09:00"}}, 422, "window.end"),
        # A cash customer's credit limit is 0, so asking to put the order on a monthly account exceeds it.
        ("credit exceeded", {"payment_method": "monthly", "scheduled_date": day(today, 2)}, 409, "credit_override"),
    ]


def test_invalid_orders_are_refused_naming_the_field_and_nothing_is_written(
    platform: Platform, office: dict[str, str], cash_customers: list[dict[str, Any]]
) -> None:
    customer = cash_customers[1]
    today = platform_today(platform)
    # Tomorrow, which is still a valid date (then today) if Taipei's midnight passes while the test runs.
    tomorrow = day(today, 1)
    cases = invalid_for_a_good_customer(today)
    with httpx.Client(base_url=platform.base_url, timeout=10) as client:
        valid = client.post(ORDERS, json=order_body(customer["id"], scheduled_date=tomorrow), headers=keyed(office))
        assert valid.status_code == 201, valid.text

        refused = {}
        for name, overrides, _, _ in cases:
            body = order_body(customer["id"], **{"scheduled_date": tomorrow, **overrides})
            refused[name] = client.post(ORDERS, json=body, headers=keyed(office))

        ended = client.post("/api/v1/customers", json=customer_body(1), headers=office)
        assert ended.status_code == 201, ended.text
        terminated = ended.json()
        response = client.post(
            f"/api/v1/customers/{terminated['id']}/terminate", json={"reason": "歇業"}, headers=office
        )
        assert response.status_code == 200, response.text
        body = order_body(terminated["id"], scheduled_date=tomorrow)
        refused["terminated customer"] = client.post(ORDERS, json=body, headers=keyed(office))

        listed = client.get(ORDERS, params={"customer_id": customer["id"]}, headers=office)
        listed_terminated = client.get(ORDERS, params={"customer_id": terminated["id"]}, headers=office)

    expected = {name: (status, field) for name, _, status, field in cases}
    expected["terminated customer"] = (422, "customer_id")
    outcomes = {
        name: (response.status_code, ", ".join(error["field"] for error in response.json().get("errors", [])))
        for name, response in refused.items()
    }
    assert outcomes == expected
    assert {response.headers["content-type"] for response in refused.values()} == {"application/problem+json"}
    assert [order["id"] for order in listed.json()["items"]] == [valid.json()["id"]]
    assert listed_terminated.json()["items"] == []
