"""The OpenAPI document explains every operation: a stable operationId, a summary and a description, and each
error it can answer as problem+json. A route added without a docstring, or one whose errors the document would
not list, fails here (e2e/test_api_fuzz.py checks the listed errors against what the running platform answers)."""

from __future__ import annotations

from typing import Any, get_args

import pytest
from fastapi.routing import APIRoute
from pydantic import BaseModel

from services.gateway.app import API_ROUTERS, PLUMBING_ROUTERS, create_app
from services.gateway.openapi import allowed_roles
from services.gateway.security import ALL_ROLES
from tests.gateway.conftest import gateway_settings

PROBLEM = {"$ref": "#/components/schemas/Problem"}
ROUTES = [
    (method, route)
    for router in (*API_ROUTERS, *PLUMBING_ROUTERS)
    for route in router.routes
    if isinstance(route, APIRoute) and route.include_in_schema
    for method in sorted(route.methods)
]


@pytest.fixture(scope="module")
def document(embedded_stores: object) -> dict[str, Any]:
    return create_app(gateway_settings("127.0.0.1:1")).openapi()


def operation(document: dict[str, Any], method: str, route: APIRoute) -> dict[str, Any]:
    found: dict[str, Any] = document["paths"][route.path_format][method.lower()]
    return found


def test_operation_ids_are_the_handlers_names_and_unique(document: dict[str, Any]) -> None:
    ids = [operation(document, method, route)["operationId"] for method, route in ROUTES]

    assert ids == [route.name for _, route in ROUTES]
    assert len(set(ids)) == len(ids), "two handlers share a name"
    assert "create_order" in ids


@pytest.mark.parametrize(("method", "route"), ROUTES, ids=lambda value: str(getattr(value, "path", value)))
def test_every_operation_has_a_summary_and_a_description(
    document: dict[str, Any], method: str, route: APIRoute
) -> None:
    described = operation(document, method, route)

    assert described["summary"].strip()
    assert len(described.get("description", "").strip()) > 20, f"{method} {route.path}: give the handler a docstring"


@pytest.mark.parametrize(("method", "route"), ROUTES, ids=lambda value: str(getattr(value, "path", value)))
def test_every_operation_lists_the_errors_its_route_can_answer_as_problems(
    document: dict[str, Any], method: str, route: APIRoute
) -> None:
    responses = operation(document, method, route)["responses"]
    listed = {int(status) for status in responses if status.isdigit() and int(status) >= 400}
    expected: set[int] = set()
    roles = allowed_roles(route)
    if roles is not None:
        expected |= {401} if roles == ALL_ROLES else {401, 403}
    if "{" in route.path and method != "PUT":
        expected.add(404)
    if route.body_field is not None:
        expected |= {400, 413, 422}
    if route.path.startswith("/api/"):
        expected |= {503, 504}

    assert expected <= listed, f"{method} {route.path} does not list {sorted(expected - listed)}"
    for status in [*map(str, listed), "default"]:
        content = responses[status]["content"]
        assert list(content) == ["application/problem+json"], (status, content)
        assert content["application/problem+json"]["schema"] == PROBLEM


def test_a_required_if_match_lists_412_and_428(document: dict[str, Any]) -> None:
    update = document["paths"]["/api/v1/customers/{customer_id}"]["patch"]["responses"]
    flag_put = document["paths"]["/api/v1/flags/{key}"]["put"]["responses"]

    assert {"412", "428"} <= set(update)
    assert "412" in flag_put
    assert "428" not in flag_put  # without If-Match a flag is created


def test_fastapis_validation_error_schema_is_gone(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]

    assert "HTTPValidationError" not in schemas
    assert set(schemas["Problem"]["required"]) == {"type", "title", "status", "detail"}


def test_the_document_describes_the_live_websocket_it_cannot_list_as_an_operation(document: dict[str, Any]) -> None:
    description = document["info"]["description"]

    assert "/api/v1/live" in description
    for kind in ("order.", "delivery.", "route.published", "stop.arrived", "driver.position", "live.ready", "4401"):
        assert kind in description, kind


def body_models() -> list[type[BaseModel]]:
    """Each route's request body model (both arms of an optional body)."""
    models: set[type[BaseModel]] = set()
    for _, route in ROUTES:
        if route.body_field is not None:
            annotation = route.body_field.field_info.annotation
            arms = get_args(annotation) or (annotation,)
            models |= {arm for arm in arms if isinstance(arm, type) and issubclass(arm, BaseModel)}
    return sorted(models, key=lambda model: model.__name__)


@pytest.mark.parametrize("model", body_models(), ids=lambda model: model.__name__)
def test_every_request_body_has_an_example_its_model_takes(document: dict[str, Any], model: type[BaseModel]) -> None:
    examples = document["components"]["schemas"][model.__name__].get("examples")

    assert examples, f"{model.__name__}: give it model_config = example({{...}})"
    for body in examples:
        model.model_validate(body)  # raises, naming the field, when the example went stale
