"""The one place errors become HTTP problem+json (RFC 9457): gRPC status, domain errors, validation."""

from __future__ import annotations

import json
import logging
from typing import Any

import grpc
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from opentelemetry import trace
from prometheus_client import Counter
from starlette.exceptions import HTTPException as StarletteHTTPException

from services.gateway.errors import AccountLocked, PreconditionRequired, TooManyRequests, Unauthenticated
from services.gateway.faults import InjectedFault
from services.platform.errors import DomainError, FieldViolation
from services.platform.interceptors import VIOLATIONS_METADATA_KEY, status_for

PROBLEM_JSON = "application/problem+json"
PROBLEM_BASE = "https://luckygas.example/problems/"

_log = logging.getLogger(__name__)

# A request that ended in a failure nobody planned for: an exception in the gateway ("gateway") or a service that
# crashed on what the gateway sent it ("service": INTERNAL, UNKNOWN, DATA_LOSS). Each is a bug; the tests fail on any.
UNEXPECTED_ERRORS = Counter(
    "luckygas_gateway_unexpected_errors_total",
    "Requests that ended in an unexpected error, by where it happened.",
    ["origin"],
)

# gRPC status → (HTTP status, problem type slug, title).
STATUS_MAP: dict[grpc.StatusCode, tuple[int, str, str]] = {
    grpc.StatusCode.INVALID_ARGUMENT: (422, "invalid-argument", "The request has invalid fields"),
    grpc.StatusCode.OUT_OF_RANGE: (422, "invalid-argument", "The request has invalid fields"),
    grpc.StatusCode.NOT_FOUND: (404, "not-found", "Not found"),
    grpc.StatusCode.ALREADY_EXISTS: (409, "already-exists", "Already exists"),
    grpc.StatusCode.FAILED_PRECONDITION: (409, "failed-precondition", "Not allowed in the current state"),
    # ABORTED is our optimistic-concurrency failure: the If-Match version is stale.
    grpc.StatusCode.ABORTED: (412, "version-conflict", "The resource changed since you read it"),
    grpc.StatusCode.PERMISSION_DENIED: (403, "forbidden", "Forbidden"),
    grpc.StatusCode.UNAUTHENTICATED: (401, "unauthenticated", "Authentication required"),
    grpc.StatusCode.RESOURCE_EXHAUSTED: (429, "too-many-requests", "Too many requests"),
    grpc.StatusCode.UNAVAILABLE: (503, "service-unavailable", "A service is unavailable; retry shortly"),
    grpc.StatusCode.DEADLINE_EXCEEDED: (504, "deadline-exceeded", "A service did not answer in time"),
    grpc.StatusCode.CANCELLED: (503, "service-unavailable", "A service is unavailable; retry shortly"),
    grpc.StatusCode.UNIMPLEMENTED: (501, "not-implemented", "Not implemented"),
}
_UPSTREAM_FAULT = (502, "upstream-error", "A service failed")


def problem(
    status: int,
    slug: str,
    title: str,
    detail: str,
    *,
    errors: list[FieldViolation] | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body: dict[str, Any] = {"type": PROBLEM_BASE + slug, "title": title, "status": status, "detail": detail}
    if errors:
        body["errors"] = [{"field": v.field, "reason": v.reason} for v in errors]
    body.update(extra)
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_JSON)


# Fields of the gRPC contracts that a REST client sends as headers: an error names the header it can fix.
REST_NAMES = {"expected_version": "If-Match", "request_id": "Idempotency-Key"}


def _violations_from_rpc(error: grpc.aio.AioRpcError) -> list[FieldViolation]:
    for key, value in error.trailing_metadata() or ():
        if key == VIOLATIONS_METADATA_KEY:
            return [
                FieldViolation(REST_NAMES.get(item["field"], item["field"]), item["reason"])
                for item in json.loads(value)
            ]
    return []


def _trace_id() -> str | None:
    """The current request's trace id, for a client to quote when it reports the failure."""
    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else None


def from_rpc_error(error: grpc.aio.AioRpcError) -> JSONResponse:
    status, slug, title = STATUS_MAP.get(error.code(), _UPSTREAM_FAULT)
    detail = error.details() or title
    if (status, slug, title) == _UPSTREAM_FAULT:
        UNEXPECTED_ERRORS.labels("service").inc()
        trace_id = _trace_id()
        _log.error(
            "a service failed",
            extra={"grpc_code": error.code().name, "grpc_detail": error.details(), "trace_id": trace_id},
        )
        detail = "a service failed while handling the request; it has been logged"
        return problem(status, slug, title, detail, trace_id=trace_id)
    if status >= 500:
        _log.warning("service call failed", extra={"grpc_code": error.code().name, "grpc_detail": error.details()})
    headers = {"Retry-After": "1"} if status == 503 else None
    violations = _violations_from_rpc(error)
    for contract_name, rest_name in REST_NAMES.items():
        detail = detail.replace(f"{contract_name}:", f"{rest_name}:")
    return problem(status, slug, title, detail, errors=violations, headers=headers)


def from_domain_error(error: DomainError) -> JSONResponse:
    if isinstance(error, Unauthenticated):
        return problem(
            401, "unauthenticated", "Authentication required", error.message, headers={"WWW-Authenticate": "Bearer"}
        )
    if isinstance(error, AccountLocked):
        return problem(
            423, "account-locked", "Account locked", error.message, headers={"Retry-After": str(error.retry_after)}
        )
    if isinstance(error, PreconditionRequired):
        return problem(428, "precondition-required", "Precondition required", error.message)
    if isinstance(error, TooManyRequests):
        return problem(
            429,
            "too-many-requests",
            "Too many requests",
            error.message,
            headers={"Retry-After": str(error.retry_after)},
        )
    status, slug, title = STATUS_MAP.get(status_for(error), _UPSTREAM_FAULT)
    return problem(status, slug, title, error.message, errors=error.violations)


UNREADABLE_BODY = "the body must be JSON text encoded as UTF-8 (Content-Type: application/json)"


def _violation(item: Any) -> FieldViolation:
    """One of pydantic's errors as a field and a reason a client can act on."""
    if item["type"] == "json_invalid":  # pydantic's location is a character offset, not a field: say where
        return FieldViolation("body", f"is not valid JSON: {item['ctx']['error']} at character {item['loc'][-1]}")
    # Our own field checks raise ValueError, which pydantic words "Value error, <reason>": keep the reason.
    return FieldViolation(_field_path(tuple(item["loc"])), str(item["msg"]).removeprefix("Value error, "))


def _field_path(location: tuple[Any, ...]) -> str:
    """pydantic's location as the services name fields: ``items[0].quantity``."""
    path = ""
    for part in location:
        if part in ("body", "query", "path", "header"):
            continue
        path += f"[{part}]" if isinstance(part, int) else f".{part}" if path else str(part)
    return path or str(location[-1] if location else "body")


PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "An error, as RFC 9457 problem details.",
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string", "description": "The kind of problem, e.g. .../problems/invalid-argument"},
        "title": {"type": "string"},
        "status": {"type": "integer", "description": "The HTTP status, repeated"},
        "detail": {"type": "string", "description": "What went wrong with this request"},
        "errors": {
            "type": "array",
            "description": "For invalid input: each refused field and why",
            "items": {
                "type": "object",
                "required": ["field", "reason"],
                "properties": {"field": {"type": "string"}, "reason": {"type": "string"}},
            },
        },
        "trace_id": {"type": "string", "description": "For an unexpected error: the trace to quote when reporting it"},
    },
}


def documented(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """A route's ``responses=``: the errors it answers beyond those services/gateway/openapi.py reads from the
    route itself; that module words and types them."""
    return {status: {"description": "see the problem's detail"} for status in statuses}


def install(app: FastAPI) -> None:
    """Register the handlers: every error response of the gateway is problem+json."""

    @app.exception_handler(grpc.aio.AioRpcError)
    async def rpc_error(request: Request, error: grpc.aio.AioRpcError) -> JSONResponse:
        return from_rpc_error(error)

    @app.exception_handler(DomainError)
    async def domain_error(request: Request, error: DomainError) -> JSONResponse:
        return from_domain_error(error)

    @app.exception_handler(InjectedFault)
    async def injected_fault(request: Request, error: InjectedFault) -> JSONResponse:
        status, slug, title = STATUS_MAP.get(error.status, _UPSTREAM_FAULT)
        return problem(status, slug, title, str(error))

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, error: RequestValidationError) -> JSONResponse:
        violations = [_violation(item) for item in error.errors()]
        return problem(
            422,
            "invalid-argument",
            "The request has invalid fields",
            "; ".join(f"{v.field}: {v.reason}" for v in violations),
            errors=violations,
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        if error.status_code == 400:  # FastAPI could not read the body at all (e.g. bytes that are not UTF-8)
            return problem(400, "bad-request", "The body could not be read", UNREADABLE_BODY)
        slug = {404: "not-found", 405: "method-not-allowed", 413: "payload-too-large"}.get(error.status_code, "error")
        headers = dict(error.headers) if error.headers else None
        return problem(error.status_code, slug, str(error.detail), str(error.detail), headers=headers)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, error: Exception) -> JSONResponse:
        UNEXPECTED_ERRORS.labels("gateway").inc()
        trace_id = _trace_id()
        _log.exception("unhandled error", extra={"path": request.url.path, "trace_id": trace_id})
        return problem(
            500, "internal", "Internal error", "an unexpected error occurred; it has been logged", trace_id=trace_id
        )
