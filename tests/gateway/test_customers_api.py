"""Customers end to end through the gateway's REST API and the real customer service."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest

from tests.gateway.conftest import bearer
from tests.gateway.factories import customer_body

PROBLEM = "application/problem+json"


@pytest.fixture
def office(tokens: dict[str, str]) -> dict[str, str]:
    return bearer(tokens["dispatcher"])


async def test_create_get_update_terminate_round_trip(gateway: httpx.AsyncClient, office: dict[str, str]) -> None:
    created = await gateway.post("/api/v1/customers", json=customer_body(code="5000001"), headers=office)
    assert created.status_code == 201, created.text
    customer = created.json()
    assert created.headers["Location"] == f"/api/v1/customers/{customer['id']}"
    assert created.headers["ETag"] == '"1"'
    assert customer["phones"] == ["0932123456"]

    fetched = await gateway.get(f"/api/v1/customers/{customer['id']}", headers=office)
    assert fetched.json() == customer

    updated = await gateway.patch(
        f"/api/v1/customers/{customer['id']}",
        json={"slot_code": 2, "notes": "後門進"},
        headers={**office, "If-Match": fetched.headers["ETag"]},
    )
    assert updated.status_code == 200, updated.text
    assert updated.json()["slot_code"] == 2
    assert updated.json()["notes"] == "後門進"
    assert updated.json()["short_name"] == "四維早餐店"
    assert updated.headers["ETag"] == '"2"'

    terminated = await gateway.post(
        f"/api/v1/customers/{customer['id']}/terminate", json={"reason": "歇業"}, headers=office
    )
    assert terminated.json()["terminated"] is True
    assert terminated.json()["termination_reason"] == "歇業"


async def test_search_filters_and_pages(gateway: httpx.AsyncClient, office: dict[str, str]) -> None:
    for index in range(3):
        await gateway.post("/api/v1/customers", json=customer_body(code=f"600000{index}", zone="D"), headers=office)
    await gateway.post("/api/v1/customers", json=customer_body(code="6000009", zone="E"), headers=office)

    first = await gateway.get("/api/v1/customers", params={"zone": "D", "page_size": 2}, headers=office)
    second = await gateway.get(
        "/api/v1/customers",
        params={"zone": "D", "page_size": 2, "page_token": first.json()["next_page_token"]},
        headers=office,
    )

    assert [c["code"] for c in first.json()["items"]] == ["6000000", "6000001"]
    assert [c["code"] for c in second.json()["items"]] == ["6000002"]
    assert second.json()["next_page_token"] is None
    by_text = await gateway.get("/api/v1/customers", params={"q": "6000009"}, headers=office)
    assert [c["zone"] for c in by_text.json()["items"]] == ["E"]


async def test_invalid_fields_are_422_problem_naming_each_field(
    gateway: httpx.AsyncClient, office: dict[str, str]
) -> None:
    response = await gateway.post(
        "/api/v1/customers", json=customer_body(tax_id="22099132", zone="Q", phones=["12"]), headers=office
    )

    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM
    problem = response.json()
    assert {"type", "title", "status", "detail", "errors"} <= set(problem)
    assert {"tax_id", "zone", "phones[0]"} <= {error["field"] for error in problem["errors"]}
    search = await gateway.get("/api/v1/customers", headers=office)
    assert search.json()["items"] == []


async def test_unknown_field_is_refused(gateway: httpx.AsyncClient, office: dict[str, str]) -> None:
    response = await gateway.post("/api/v1/customers", json=customer_body(favourite_colour="red"), headers=office)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "favourite_colour"


async def test_duplicate_code_is_409(gateway: httpx.AsyncClient, office: dict[str, str]) -> None:
    await gateway.post("/api/v1/customers", json=customer_body(code="5000002"), headers=office)
    again = await gateway.post("/api/v1/customers", json=customer_body(code="5000002"), headers=office)
    assert again.status_code == 409
    assert again.json()["errors"] == [{"field": "code", "reason": "already in use"}]


async def test_idempotency_key_makes_create_retry_safe(gateway: httpx.AsyncClient, office: dict[str, str]) -> None:
    body = customer_body()
    headers = {**office, "Idempotency-Key": "office-7f3a"}
    first = await gateway.post("/api/v1/customers", json=body, headers=headers)
    retry = await gateway.post("/api/v1/customers", json=body, headers=headers)
    other = await gateway.post("/api/v1/customers", json=customer_body(), headers=headers)

    assert first.status_code == retry.status_code == 201
    assert retry.json()["id"] == first.json()["id"]
    assert other.status_code == 409


async def test_update_without_if_match_is_428_and_stale_is_412(
    gateway: httpx.AsyncClient, office: dict[str, str]
) -> None:
    customer = (await gateway.post("/api/v1/customers", json=customer_body(), headers=office)).json()
    url = f"/api/v1/customers/{customer['id']}"

    missing = await gateway.patch(url, json={"notes": "a"}, headers=office)
    first = await gateway.patch(url, json={"notes": "b"}, headers={**office, "If-Match": '"1"'})
    stale = await gateway.patch(url, json={"notes": "c"}, headers={**office, "If-Match": '"1"'})

    assert missing.status_code == 428
    assert first.status_code == 200
    assert stale.status_code == 412
    # The contract's expected_version is what the client sends as If-Match: the error names the header.
    assert [error["field"] for error in stale.json()["errors"]] == ["If-Match"]
    assert (await gateway.get(url, headers=office)).json()["notes"] == "b"


async def test_oversized_body_is_413(gateway: httpx.AsyncClient, office: dict[str, str]) -> None:
    response = await gateway.post(
        "/api/v1/customers",
        content=b'{"notes": "' + b"x" * 70_000 + b'"}',
        headers={**office, "content-type": "application/json"},
    )
    assert response.status_code == 413
    assert response.headers["content-type"] == PROBLEM


async def test_responses_are_not_sniffed_and_the_docs_page_has_a_content_security_policy(
    gateway: httpx.AsyncClient, office: dict[str, str]
) -> None:
    api = await gateway.get("/api/v1/customers", headers=office)
    refused = await gateway.get("/api/v1/customers")
    docs = await gateway.get("/docs")

    for response in (api, refused, docs):
        assert response.headers["x-content-type-options"] == "nosniff"
    assert "content-security-policy" not in api.headers
    assert docs.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in docs.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in docs.headers["content-security-policy"]


async def test_the_docs_page_loads_everything_from_the_gateway_so_it_works_offline(gateway: httpx.AsyncClient) -> None:
    page = (await gateway.get("/docs")).text
    linked = re.findall(r"""(?:src|href)=["']([^"']+)["']""", page) + re.findall(r"url: ?'([^']+)'", page)

    assert not [link for link in linked if "//" in link], linked  # nothing from a CDN
    assets = {link for link in linked if link.startswith("/docs/assets/")}
    assert {"/docs/assets/swagger-ui-bundle.js", "/docs/assets/swagger-ui.css"} <= assets
    for link in sorted(assets):
        served = await gateway.get(link)
        assert served.status_code == 200, link
        assert served.content, link
    assert (await gateway.get("/openapi.json")).status_code == 200


async def test_oversized_chunked_body_is_413_like_a_declared_one(
    gateway: httpx.AsyncClient, office: dict[str, str]
) -> None:
    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: the body is streamed in chunks
        yield b'{"notes": "'
        for _ in range(10):
            yield b"x" * 10_000
        yield b'"}'

    response = await gateway.post(
        "/api/v1/customers", content=chunks(), headers={**office, "content-type": "application/json"}
    )

    assert response.status_code == 413, response.text
    assert response.headers["content-type"] == PROBLEM


async def test_unknown_customer_is_404_and_malformed_id_is_422(
    gateway: httpx.AsyncClient, office: dict[str, str]
) -> None:
    missing = await gateway.get("/api/v1/customers/00000000-0000-0000-0000-000000000000", headers=office)
    malformed = await gateway.get("/api/v1/customers/not-a-uuid", headers=office)
    assert missing.status_code == 404
    assert malformed.status_code == 422
    assert malformed.json()["errors"][0]["field"] == "id"


async def test_openapi_is_served(gateway: httpx.AsyncClient) -> None:
    schema = (await gateway.get("/openapi.json")).json()
    assert "/api/v1/customers" in schema["paths"]
    assert (await gateway.get("/docs")).status_code == 200
