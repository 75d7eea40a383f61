"""A customer service that is down or stalled yields 503/504 problem+json within the deadline."""

from __future__ import annotations

import asyncio
import socket
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator

import httpx
import pytest
from prometheus_client import REGISTRY
from sqlalchemy import text

from services.customer.app import start
from services.customer.settings import CustomerSettings
from services.flags.app import RunningFlagService
from services.platform.database import Database
from tests.gateway.conftest import bearer, login
from tests.gateway.factories import customer_body

CUSTOMER_URL = "/api/v1/customers/00000000-0000-0000-0000-000000000000"


@pytest.fixture
def black_hole() -> Iterator[int]:
    """A TCP listener that accepts connections and never answers: a hung service, not a simulated one."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    yield listener.getsockname()[1]
    listener.close()


def deadline_exceeded_updates() -> float:
    labels = {
        "service": "luckygas.customer.v1.CustomerService",
        "method": "UpdateCustomer",
        "code": "DEADLINE_EXCEEDED",
    }
    return REGISTRY.get_sample_value("luckygas_grpc_server_handled_total", labels) or 0.0


async def office_token(client: httpx.AsyncClient) -> dict[str, str]:
    response = await login(client, "dispatcher")
    assert response.status_code == 200
    return bearer(response.json()["access_token"])


async def test_stopped_service_is_503_promptly_and_recovers(
    make_gateway, database: Database, redis_client: object, users: dict[str, uuid.UUID]
) -> None:
    running = await start(CustomerSettings(), database, port=0)  # type: ignore[call-arg]
    port = running.port
    gateway = await make_gateway(f"127.0.0.1:{port}")
    headers = await office_token(gateway)
    assert (await gateway.get(CUSTOMER_URL, headers=headers)).status_code == 404

    await running.stop(grace=0)
    started = time.perf_counter()
    down = await gateway.get(CUSTOMER_URL, headers=headers)
    elapsed = time.perf_counter() - started

    assert down.status_code == 503
    assert down.headers["content-type"] == "application/problem+json"
    assert elapsed < 1.0 + 0.5  # within the call deadline (1 s in tests) plus scheduling slack
    ready = await gateway.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["checks"]["customer"] == "unavailable"

    restarted = await start(CustomerSettings(customer_grpc_port=port), database)  # type: ignore[call-arg]
    try:
        for _ in range(50):
            if (await gateway.get(CUSTOMER_URL, headers=headers)).status_code == 404:
                break
            await asyncio.sleep(0.1)
        assert (await gateway.get(CUSTOMER_URL, headers=headers)).status_code == 404
    finally:
        await restarted.stop(grace=0)


async def test_service_that_never_answers_is_503_within_the_deadline(
    make_gateway, black_hole: int, redis_client: object, users: dict[str, uuid.UUID], database: Database
) -> None:
    gateway = await make_gateway(f"127.0.0.1:{black_hole}", call_deadline_seconds=0.5)
    headers = await office_token(gateway)

    started = time.perf_counter()
    response = await gateway.get(CUSTOMER_URL, headers=headers)
    elapsed = time.perf_counter() - started

    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert elapsed < 0.5 + 0.5


async def test_service_stuck_on_its_database_is_504_at_the_deadline(
    make_gateway, customer_server: int, redis_client: object, users: dict[str, uuid.UUID], database: Database
) -> None:
    gateway = await make_gateway(f"127.0.0.1:{customer_server}", call_deadline_seconds=0.5)
    headers = await office_token(gateway)
    created = await gateway.post("/api/v1/customers", json=customer_body(), headers=headers)
    customer_id = created.json()["id"]

    timed_out_before = deadline_exceeded_updates()

    # Another transaction holds the customer's row lock, so the service's UPDATE waits on Postgres.
    async with database.engine.connect() as blocker:
        await blocker.execute(text("SELECT 1 FROM customer.customers WHERE id = :id FOR UPDATE"), {"id": customer_id})
        started = time.perf_counter()
        response = await gateway.patch(
            f"/api/v1/customers/{customer_id}", json={"notes": "blocked"}, headers={**headers, "If-Match": '"1"'}
        )
        elapsed = time.perf_counter() - started
        await blocker.rollback()

    assert response.status_code == 504, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert elapsed < 0.5 + 0.5
    after = await gateway.get(f"/api/v1/customers/{customer_id}", headers=headers)
    assert after.json()["notes"] == ""
    # The service, whose handler was cancelled at the deadline, counts the call as such, not as OK. The server
    # learns of the deadline on its own, possibly a moment after the gateway answered.
    deadline = time.monotonic() + 3
    while deadline_exceeded_updates() == timed_out_before and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.02)
    assert deadline_exceeded_updates() == timed_out_before + 1


@pytest.fixture
async def every_service(
    make_gateway: Callable[..., Awaitable[httpx.AsyncClient]],
    customer_server: int,
    order_server: int,
    routing_server: int,
    tracking_server: int,
    flag_server: RunningFlagService,
) -> httpx.AsyncClient:
    """A gateway with every service it calls running."""
    return await make_gateway(
        f"127.0.0.1:{customer_server}",
        order_address=f"127.0.0.1:{order_server}",
        routing_address=f"127.0.0.1:{routing_server}",
        tracking_address=f"127.0.0.1:{tracking_server}",
        flags_address=f"127.0.0.1:{flag_server.port}",
    )


async def test_readyz_is_ready_when_everything_answers(every_service: httpx.AsyncClient) -> None:
    response = await every_service.get("/readyz")
    assert response.status_code == 200
    assert response.json()["checks"] == {
        "database": "ok",
        "redis": "ok",
        "customer": "ok",
        "order": "ok",
        "routing": "ok",
        "tracking": "ok",
        "flags": "ok",
    }


async def test_readyz_names_a_service_that_does_not_answer(gateway: httpx.AsyncClient) -> None:
    # This gateway's routing and tracking addresses have nothing listening.
    response = await gateway.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["routing"] == "unavailable"
    assert response.json()["checks"]["customer"] == "ok"


async def test_healthz_and_metrics(every_service: httpx.AsyncClient) -> None:
    gateway = every_service
    assert (await gateway.get("/healthz")).json() == {"status": "ok"}
    await gateway.get("/readyz")
    metrics = (await gateway.get("/metrics")).text
    assert 'luckygas_gateway_http_requests_total{method="GET",route="/readyz",status="200"}' in metrics
