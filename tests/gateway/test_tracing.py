"""One trace runs from the HTTP request through the gRPC hop to the SQL statement."""

from __future__ import annotations

import httpx
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tests.gateway.conftest import bearer
from tests.gateway.factories import customer_body

EXPORTER = InMemorySpanExporter()


@pytest.fixture(scope="module", autouse=True)
def recording_tracer_provider() -> None:
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    provider.add_span_processor(SimpleSpanProcessor(EXPORTER))


def named(spans: tuple[ReadableSpan, ...], prefix: str) -> ReadableSpan:
    matches = [span for span in spans if span.name.startswith(prefix)]
    assert matches, f"no span starting with {prefix!r} in {[s.name for s in spans]}"
    return matches[-1]


def ancestors(span: ReadableSpan, spans: tuple[ReadableSpan, ...]) -> list[ReadableSpan]:
    """The chain of recorded parents of ``span``, nearest first."""
    by_id = {s.context.span_id: s for s in spans}
    chain = []
    while span.parent is not None and span.parent.span_id in by_id:
        span = by_id[span.parent.span_id]
        chain.append(span)
    return chain


async def test_gateway_grpc_and_sql_spans_share_one_trace(gateway: httpx.AsyncClient, tokens: dict[str, str]) -> None:
    office = bearer(tokens["dispatcher"])
    created = (await gateway.post("/api/v1/customers", json=customer_body(), headers=office)).json()
    EXPORTER.clear()

    response = await gateway.get(
        f"/api/v1/customers/{created['id']}",
        headers={**office, "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
    )

    assert response.status_code == 200
    spans = EXPORTER.get_finished_spans()
    http = named(spans, "GET /api/v1/customers/{customer_id}")
    rpc = named(spans, "luckygas.customer.v1.CustomerService/GetCustomer")
    sql = named(spans, "SELECT")
    assert {format(s.context.trace_id, "032x") for s in (http, rpc, sql)} == {"4bf92f3577b34da6a3ce929d0e0e4736"}
    assert http.parent is not None
    assert http.parent.span_id == 0x00F067AA0BA902B7  # the caller's span, from traceparent
    assert ancestors(rpc, spans)[-1] is http
    assert sql.parent is not None
    assert sql.parent.span_id == rpc.context.span_id
