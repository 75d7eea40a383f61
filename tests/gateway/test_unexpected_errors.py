"""A failure nobody planned for is a bug to find: counted, logged with its trace id, and quoted to the client."""

from __future__ import annotations

import logging

import httpx
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from sqlalchemy import text

from services.platform.database import Database
from tests.gateway.conftest import bearer, unexpected_errors
from tests.gateway.factories import customer_body

TRACE_ID = "5af7183fc1d34bd8a2d9c3e1f0b2a4c6"


@pytest.fixture(scope="module", autouse=True)
def recording_tracer_provider() -> None:
    """Spans are recorded (as in production), so a request has a trace id to quote."""
    if not isinstance(trace.get_tracer_provider(), TracerProvider):
        trace.set_tracer_provider(TracerProvider())


@pytest.mark.unexpected_errors
async def test_a_service_that_crashes_is_a_502_counted_and_logged_with_its_trace_id(
    gateway: httpx.AsyncClient, tokens: dict[str, str], database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    office = bearer(tokens["dispatcher"])
    created = await gateway.post("/api/v1/customers", json=customer_body(code="5200001"), headers=office)
    assert created.status_code == 201, created.text
    before = unexpected_errors()
    # A real crash: the customer service's table is gone from under it, so its query fails in Postgres.
    async with database.session() as session:
        await session.execute(text("ALTER TABLE customer.customers RENAME TO customers_gone"))
    try:
        with caplog.at_level(logging.ERROR, logger="services.gateway.problems"):
            response = await gateway.get(
                f"/api/v1/customers/{created.json()['id']}",
                headers={**office, "traceparent": f"00-{TRACE_ID}-00f067aa0ba902b7-01"},
            )
    finally:
        async with database.session() as session:
            await session.execute(text("ALTER TABLE customer.customers_gone RENAME TO customers"))

    assert response.status_code == 502, response.text
    body = response.json()
    assert body["type"].endswith("/upstream-error")
    assert "customers_gone" not in response.text, "no internals leak"
    assert "relation" not in response.text, "no internals leak"
    assert body["trace_id"] == TRACE_ID, "the client can quote the trace of its request"
    assert unexpected_errors() == before + 1
    logged = [record for record in caplog.records if record.getMessage() == "a service failed"]
    assert logged, "the failure is logged"
    assert getattr(logged[0], "grpc_code", None) == "INTERNAL"
    assert getattr(logged[0], "trace_id", None) == TRACE_ID
