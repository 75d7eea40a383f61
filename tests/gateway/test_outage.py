"""A customer service that is down or stalled yields 503/504 problem+json within the deadline."""

from __future__ import annotations

import asyncio
import socket
import time
import uuid
from collections.abc import Callable, Iterator

import httpx
import pytest
from prometheus_client import REGISTRY
from sqlalchemy import text

from services.customer.app import start
from services.customer.settings import CustomerSettings
from services.platform.database import Database
from tests.gateway.conftest import bearer, login
from tests.gateway.factories import customer_body

CUSTOMER_URL = "/api/v1/customers/00000000-0000-0000-0000-000000000000"
# The bound on how long a failing call may take beyond its deadline: far above anything a saturated machine's
# scheduling adds, far below a hang (a call without a deadline waits as long as whatever holds it up).
SLACK_SECONDS = 10.0
# How long to wait for a condition that must come true (a restarted service answering, a counter moving).
WAIT_SECONDS = 30.0


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


async def readyz_when(gateway: httpx.AsyncClient, holds: Callable[[dict[str, str]], bool]) -> httpx.Response:
    """/readyz, asked again until its checks (its own and the services') are the awaited ones. Each check has a
    1 s timeout, which a service that does answer can miss on a busy machine (a first call also connects); one that
    does not answer never passes it, so asking again cannot hide a failure."""
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        response = await gateway.get("/readyz")
        body = response.json()
        if holds({**body["checks"], **body["services"]}) or time.monotonic() > deadline:
            return response
        await asyncio.sleep(0.1)


async def test_stopped_service_is_503_promptly_and_recovers(
    make_gateway, database: Database, redis_client: object, users: dict[str, uuid.UUID]
) -> None:
    running = await start(CustomerSettings(), database, port=0)  # type: ignore[call-arg]
    port = running.port
    # A deadline no busy machine reaches: a 503 rather than a 504 then shows the call failed fast on the refused
    # connection instead of waiting for it.
    deadline_seconds = 5.0
    gateway = await make_gateway(f"127.0.0.1:{port}", call_deadline_seconds=deadline_seconds)
    headers = await office_token(gateway)
    assert (await gateway.get(CUSTOMER_URL, headers=headers)).status_code == 404

    await running.stop(grace=0)
    started = time.perf_counter()
    down = await gateway.get(CUSTOMER_URL, headers=headers)
    elapsed = time.perf_counter() - started

    assert down.status_code == 503
    assert down.headers["content-type"] == "application/problem+json"
    assert elapsed < deadline_seconds + SLACK_SECONDS
    # The gateway stays in rotation: its own database and Redis answer, and routes to other services still work.
    ready = await readyz_when(gateway, lambda checks: checks["customer"] == "unavailable")
    assert ready.status_code == 200
    assert ready.json()["services"]["customer"] == "unavailable"

    restarted = await start(CustomerSettings(customer_grpc_port=port), database)  # type: ignore[call-arg]
    try:
        # The channel reconnects with backoff (up to 1 s); a busy machine may take longer still.
        deadline = time.monotonic() + WAIT_SECONDS
        while (answer := await gateway.get(CUSTOMER_URL, headers=headers)).status_code != 404:
            assert time.monotonic() < deadline, f"still {answer.status_code} {WAIT_SECONDS:.0f} s after the restart"
            await asyncio.sleep(0.1)
    finally:
        await restarted.stop(grace=0)


async def test_service_that_never_answers_is_503_within_the_deadline(
    make_gateway, black_hole: int, redis_client: object, users: dict[str, uuid.UUID], database: Database
) -> None:
    # gRPC gives up on a connection that sends no SETTINGS frame after its connect timeout (the channel's 100 ms
    # minimum reconnect backoff; 0.2-0.4 s with retries, measured on a saturated machine): UNAVAILABLE, a 503. A
    # deadline close to that (0.5 s) could win the race on a busy machine and make it a 504; this one cannot.
    deadline_seconds = 5.0
    gateway = await make_gateway(f"127.0.0.1:{black_hole}", call_deadline_seconds=deadline_seconds)
    headers = await office_token(gateway)

    started = time.perf_counter()
    response = await gateway.get(CUSTOMER_URL, headers=headers)
    elapsed = time.perf_counter() - started

    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert elapsed < deadline_seconds + SLACK_SECONDS


async def test_service_stuck_on_its_database_is_504_at_the_deadline(
    make_gateway, customer_server: int, redis_client: object, users: dict[str, uuid.UUID], database: Database
) -> None:
    deadline_seconds = 0.5
    gateway = await make_gateway(f"127.0.0.1:{customer_server}", call_deadline_seconds=deadline_seconds)
    # Setup and checks go through a gateway with a deadline a busy machine cannot reach, so only the call under
    # test can become a 504.
    patient = await make_gateway(f"127.0.0.1:{customer_server}", call_deadline_seconds=WAIT_SECONDS)
    headers = await office_token(gateway)
    created = await patient.post("/api/v1/customers", json=customer_body(), headers=headers)
    assert created.status_code == 201, created.text
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
    # Without the deadline the call would wait on the lock for as long as it is held: here, forever.
    assert elapsed < deadline_seconds + SLACK_SECONDS
    after = await patient.get(f"/api/v1/customers/{customer_id}", headers=headers)
    assert after.json()["notes"] == ""
    # The service, whose handler was cancelled at the deadline, counts the call as such, not as OK. The server
    # learns of the deadline on its own, possibly a moment after the gateway answered.
    deadline = time.monotonic() + WAIT_SECONDS
    while deadline_exceeded_updates() == timed_out_before and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.02)
    assert deadline_exceeded_updates() == timed_out_before + 1


async def test_readyz_is_ready_when_everything_answers(platform_gateway: httpx.AsyncClient) -> None:
    response = await readyz_when(platform_gateway, lambda checks: set(checks.values()) == {"ok"})
    assert response.status_code == 200
    assert response.json() == {
        "status": "ready",
        "checks": {"database": "ok", "redis": "ok"},
        "services": {"customer": "ok", "order": "ok", "routing": "ok", "tracking": "ok", "flags": "ok"},
    }


async def test_readyz_names_a_service_that_does_not_answer_and_stays_ready(gateway: httpx.AsyncClient) -> None:
    # This gateway's routing and tracking addresses have nothing listening: it reports them, and stays ready, as its
    # own database and Redis answer (one service down must not take every gateway out of rotation).
    response = await readyz_when(gateway, lambda checks: checks["customer"] == "ok")
    assert response.status_code == 200
    assert response.json()["services"]["routing"] == "unavailable"
    assert response.json()["services"]["customer"] == "ok"
    assert response.json()["checks"] == {"database": "ok", "redis": "ok"}


async def test_healthz_and_metrics(platform_gateway: httpx.AsyncClient) -> None:
    gateway = platform_gateway
    assert (await gateway.get("/healthz")).json() == {"status": "ok"}
    await readyz_when(gateway, lambda checks: set(checks.values()) == {"ok"})
    metrics = (await gateway.get("/metrics")).text
    assert 'luckygas_gateway_http_requests_total{method="GET",route="/readyz",status="200"}' in metrics
