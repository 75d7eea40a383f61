"""Bad input never reaches a service or the database as such: integers beyond 32 bits, NaN and huge floats, control
characters (NUL) in any text, JSON nested without end, in a body, a query or a path, are each a 422 naming the field.

The first tests walk every request body the gateway declares, so a new route's body is covered the day it is added;
the rest send real requests through the gateway to the real services behind it.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Iterator
from typing import Any, get_args

import httpx
import pytest
from fastapi.routing import APIRoute
from pydantic import ValidationError

from services.gateway.app import API_ROUTERS
from services.gateway.schemas.common import Strict
from tests.gateway.conftest import bearer
from tests.gateway.factories import customer_body, order_body

PROBLEM = "application/problem+json"
BAD_VALUES = [
    2**31,
    -(2**31) - 1,
    2**63,
    "a\x00b",
    "\x07",
    "台" * 5001,
    math.nan,
    math.inf,
    1e300,
    {"k": 2**31},
    ["\x00"],
]


def body_models() -> Iterator[Any]:
    """Each route's body type (both arms of an optional body)."""
    for router in API_ROUTERS:
        for route in router.routes:
            if isinstance(route, APIRoute) and route.body_field is not None:
                annotation = route.body_field.field_info.annotation
                yield from (arm for arm in get_args(annotation) or [annotation] if arm is not type(None))


def strict_models() -> list[type[Strict]]:
    found: list[type[Strict]] = []
    pending: list[type[Strict]] = [Strict]
    while pending:
        model = pending.pop()
        found.append(model)
        pending.extend(model.__subclasses__())
    return [model for model in found if model.model_fields]


def test_every_request_body_is_a_strict_model() -> None:
    bodies = set(body_models())
    assert bodies, "the gateway declares request bodies"
    loose = [model for model in bodies if not (isinstance(model, type) and issubclass(model, Strict))]
    assert not loose, loose


@pytest.mark.parametrize("model", strict_models(), ids=lambda model: model.__name__)
def test_every_field_of_every_body_refuses_out_of_range_numbers_and_bad_text(model: type[Strict]) -> None:
    for name, field in model.model_fields.items():
        # A number is a fine date-time (seconds since the epoch), checked by the service's own rules.
        moment = any(kind in str(field.annotation) for kind in ("datetime", "date"))
        for bad in [value for value in BAD_VALUES if isinstance(value, str)] if moment else BAD_VALUES:
            with pytest.raises(ValidationError) as refused:
                model.model_validate({name: bad})
            fields = {str(error["loc"][0]) for error in refused.value.errors() if error["loc"]}
            assert name in fields, (model.__name__, name, bad, refused.value.errors())


@pytest.fixture
def gateway(platform_gateway: httpx.AsyncClient) -> httpx.AsyncClient:
    return platform_gateway


def refused_fields(response: httpx.Response) -> set[str]:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM
    return {error["field"] for error in response.json()["errors"]}


async def test_bodies_queries_and_paths_with_bad_values_are_422_naming_the_field(
    gateway: httpx.AsyncClient, tokens: dict[str, str]
) -> None:
    office, sre = bearer(tokens["dispatcher"]), bearer(tokens["sre"])
    customer = await gateway.post("/api/v1/customers", json=customer_body(), headers=office)
    assert customer.status_code == 201, customer.text
    customer_id = customer.json()["id"]
    keyed = {**office, "Idempotency-Key": "bad-input"}
    nested: Any = 1
    for _ in range(200):
        nested = {"a": nested}

    probes: list[tuple[Awaitable[httpx.Response], str]] = [
        (gateway.post("/api/v1/customers", json=customer_body(credit_limit=2**31), headers=office), "credit_limit"),
        (
            gateway.post(
                "/api/v1/customers", json=customer_body(cylinders={"cylinder-20-regular": 2**40}), headers=office
            ),
            "cylinders",
        ),
        (
            gateway.post("/api/v1/customers", json=customer_body(short_name="鐵花\x00小吃"), headers=office),
            "short_name",
        ),
        (
            gateway.post(
                "/api/v1/orders",
                json=order_body(customer_id, items=[{"product": "cylinder-20-regular", "quantity": 2**31}]),
                headers=keyed,
            ),
            "items[0].quantity",
        ),
        (gateway.post("/api/v1/orders", json=order_body(customer_id, notes="\x00"), headers=keyed), "notes"),
        (gateway.get("/api/v1/customers", params={"q": "鐵花\x00"}, headers=office), "query.q"),
        (gateway.get(f"/api/v1/customers/{customer_id}%00", headers=office), "path"),
        (
            gateway.put(
                "/api/v1/fleet/vehicles/LG-9001",
                json={"kind": "small_truck", "capacity": {"20": 2**31}, "max_load_kg": 1000},
                headers=office,
            ),
            "capacity",
        ),
        (
            gateway.post(
                "/api/v1/plans",
                content=b'{"date": "2030-01-02", "time_budget_seconds": NaN}',
                headers={**keyed, "content-type": "application/json"},
            ),
            "time_budget_seconds",
        ),
        (
            gateway.post("/api/v1/plans", json={"date": "2030-01-02", "time_budget_seconds": 1e300}, headers=keyed),
            "time_budget_seconds",
        ),
        (gateway.post("/api/v1/flags/some-flag/evaluate", json={"context": nested}, headers=sre), "context"),
    ]
    for tag in ('"99999999999"', '"1e3"', '"-1"', '"0"'):
        patch = f"/api/v1/customers/{customer_id}"
        probes.append((gateway.patch(patch, json={"slot_code": 2}, headers={**office, "If-Match": tag}), "If-Match"))
        flag = {"definition": {"state": "ENABLED", "variants": {"on": True, "off": False}, "defaultVariant": "on"}}
        probes.append((gateway.put("/api/v1/flags/probe", json=flag, headers={**sre, "If-Match": tag}), "If-Match"))
    for request, field in probes:
        assert field in refused_fields(await request), field

    # Nothing of it was written: the one customer made above is the only one.
    listed = await gateway.get("/api/v1/customers", headers=office)
    assert [item["id"] for item in listed.json()["items"]] == [customer_id]


async def test_malformed_json_is_422_naming_the_body_and_where_it_breaks(
    gateway: httpx.AsyncClient, tokens: dict[str, str]
) -> None:
    response = await gateway.post(
        "/api/v1/customers",
        content=b'{"code": "1000001", "short_name": ',
        headers={**bearer(tokens["dispatcher"]), "content-type": "application/json"},
    )

    assert refused_fields(response) == {"body"}
    reason = response.json()["errors"][0]["reason"]
    assert reason.startswith("is not valid JSON"), reason
    assert "at character 34" in reason


async def test_a_body_that_is_not_utf8_is_a_400_problem_saying_what_to_send(
    gateway: httpx.AsyncClient, tokens: dict[str, str]
) -> None:
    response = await gateway.post(
        "/api/v1/customers",
        content='{"short_name": "鐵花"}'.encode("big5"),
        headers={**bearer(tokens["dispatcher"]), "content-type": "application/json"},
    )

    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == PROBLEM
    assert "UTF-8" in response.json()["detail"]
