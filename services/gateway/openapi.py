"""What ``/openapi.json`` says of every operation: a stable ``operationId`` (the handler's name, e.g.
``create_order``), a summary, and each error it can answer, as problem+json.

The errors are read from the route itself, so a new route is documented the day it is added: a route behind
``Allow`` may answer 401 (and 403 unless every role may call it); one with an id in its path 404 (unless it is a
PUT, which creates what it does not find); one reading ``If-Match`` 412 and, when the header is required, 428; one
with input 422; one with a body 400 and 413; a write that a service carries out 409; any route that calls a service 503
and 504. A route names what it adds beyond these (e.g. 423 and 429 on login) with FastAPI's own ``responses=``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

from services.gateway.problems import PROBLEM_JSON, PROBLEM_SCHEMA
from services.gateway.security import ALL_ROLES, Allow

DESCRIPTION = """REST gateway of the Lucky Gas operations platform (幸福氣).

**Authentication.** `POST /api/v1/auth/login` gives an access token (10 minutes by default) and a refresh
token; send the access token as `Authorization: Bearer <token>` and trade the refresh token at
`POST /api/v1/auth/refresh` before the access token expires. Each operation says which roles may call it
(a refusal names them).

**Errors** are `application/problem+json` (RFC 9457): `detail` says what went wrong; for invalid input `errors`
names each field (`items[0].quantity`, or the header: `If-Match`, `Idempotency-Key`) and why.

**Retries.** Creating calls take an `Idempotency-Key` header: a retry with the same key and body returns the first
answer. Changes to a customer or a flag take `If-Match` with the ETag read; a stale one is 412.

**Times.** Moments are RFC 3339 in Taipei time (`+08:00`); dates and `HH:MM` windows are Taipei's.

**Live feed (WebSocket, not listed below).** `GET /api/v1/live?access_token=<token>` upgraded to a WebSocket
(browsers cannot set headers; `Authorization: Bearer` works too). Office users (dispatcher, admin) receive every
`order.*` and `delivery.*` event, `route.published` / `route.updated` and `stop.arrived`, plus `driver.position`
messages (the newest per driver); a customer receives the order and delivery events of their own orders. Each
event is a JSON object with `type`, `payload`, `occurred_at`, `stream` and `cursor`. To miss nothing after a
disconnect, reconnect with `after=<last cursor>` once per stream (`events.order`, `events.route`,
`events.tracking`); the replay is followed by `{"type": "live.ready"}`. Close codes: 4401 not authenticated or
logged out, 4403 role may not watch, 4400 bad cursor, 4008 the client fell too far behind.
"""

ERRORS: dict[int, str] = {
    400: "The body could not be read: it must be JSON text in UTF-8",
    401: "No valid access token (missing, expired, revoked or not ours): log in or refresh",
    403: "Your role may not do this, or this object is not yours",
    404: "Not found (or not yours to see)",
    409: "Conflicts with the current state, or an Idempotency-Key reused with another body",
    412: "If-Match names a version that is no longer current: read it again",
    413: "The body is larger than this route takes",
    422: "Invalid input: `errors` names each field and why",
    423: "The account is locked after too many failed logins (Retry-After)",
    428: "If-Match is required: send the ETag of the version you read",
    429: "Too many requests (Retry-After)",
    503: "A service is unavailable: retry shortly (Retry-After)",
    504: "A service did not answer in time: retry",
}
WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Routes the gateway answers itself, without calling a service.
_LOCAL_PATHS = ("/healthz", "/readyz", "/metrics")


def operation_id(route: APIRoute) -> str:
    """The handler's name: unique across the API (a test checks it) and stable while the handler keeps its name."""
    return route.name


def allowed_roles(route: APIRoute) -> frozenset[str] | None:
    """The roles of the route's ``Allow`` dependency (directly or one level down); None for an open route."""
    for dependency in route.dependant.dependencies:
        for call in [dependency.call, *(sub.call for sub in dependency.dependencies)]:
            if isinstance(call, Allow):
                return call.roles
    return None


def _headers(route: APIRoute) -> dict[str, bool]:
    """The route's header parameters (by their HTTP name, lower case) and whether each is required."""
    found: dict[str, bool] = {}
    for dependant in [route.dependant, *route.dependant.dependencies]:
        for field in dependant.header_params:
            found[(field.alias or field.name).replace("_", "-").lower()] = field.field_info.is_required()
    return found


def error_statuses(route: APIRoute) -> set[int]:
    """The error statuses the route can answer, read from what it declares."""
    statuses: set[int] = set()
    roles = allowed_roles(route)
    if roles is not None:
        statuses.add(401)
        if roles != ALL_ROLES:
            statuses.add(403)
    methods = route.methods or set()
    if route.dependant.path_params:
        statuses.add(422)
        if methods - {"PUT"}:  # a PUT here creates what it does not find
            statuses.add(404)
    if route.dependant.query_params or route.body_field is not None or route.dependant.header_params:
        statuses.add(422)
    if route.body_field is not None:
        statuses |= {400, 413}
    headers = _headers(route)
    if "if-match" in headers:
        statuses |= {412, 422} | ({428} if headers["if-match"] else set())
    if not route.path.startswith(_LOCAL_PATHS):
        statuses |= {503, 504}
        if methods & WRITES:
            statuses.add(409)
    return statuses


def _problem(description: str) -> dict[str, Any]:
    return {"description": description, "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}}


def document(app: FastAPI, routers: Iterable[APIRouter]) -> None:
    """Make ``app.openapi()`` describe every operation's errors as problem+json (FastAPI's default 422 body, which
    this gateway never sends, is replaced) and give each a summary, so clients and schema checks can rely on it."""

    routes = [
        route
        for router in routers
        for route in router.routes
        if isinstance(route, APIRoute) and route.include_in_schema
    ]

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title,
            version=app.version,
            description=app.description,
            routes=app.routes,
            tags=app.openapi_tags,
        )
        schemas = schema.setdefault("components", {}).setdefault("schemas", {})
        schemas.pop("HTTPValidationError", None)
        schemas.pop("ValidationError", None)
        schemas["Problem"] = PROBLEM_SCHEMA
        for route in routes:
            for method in route.methods or ():
                operation = schema["paths"][route.path_format][method.lower()]
                operation.setdefault("summary", route.name.replace("_", " ").capitalize())
                responses = operation.setdefault("responses", {})
                declared = {int(code) for code in responses if code.isdigit() and int(code) >= 400}
                for status in sorted(error_statuses(route) | declared):
                    responses[str(status)] = _problem(ERRORS.get(status) or responses[str(status)]["description"])
                responses["default"] = _problem(
                    "An unexpected error (500, or 502 when a service failed): a bug, logged; quote its trace_id"
                )
                operation["responses"] = dict(sorted(responses.items()))
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
