"""The one place errors become HTTP problem+json (RFC 9457): gRPC status, domain errors, validation."""

from __future__ import annotations

import json
import logging
from typing import Any

import grpc
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from services.gateway.errors import AccountLocked, TooManyRequests, Unauthenticated
from services.gateway.faults import InjectedFault
from services.platform.errors import DomainError, FieldViolation
from services.platform.interceptors import VIOLATIONS_METADATA_KEY, status_for

PROBLEM_JSON = "application/problem+json"
PROBLEM_BASE = "https://luckygas.example/problems/"

_log = logging.getLogger(__name__)

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


def _violations_from_rpc(error: grpc.aio.AioRpcError) -> list[FieldViolation]:
    for key, value in error.trailing_metadata() or ():
        if key == VIOLATIONS_METADATA_KEY:
            return [FieldViolation(item["field"], item["reason"]) for item in json.loads(value)]
    return []


def from_rpc_error(error: grpc.aio.AioRpcError) -> JSONResponse:
    status, slug, title = STATUS_MAP.get(error.code(), _UPSTREAM_FAULT)
    if status >= 500:
        _log.warning("service call failed", extra={"grpc_code": error.code().name, "grpc_detail": error.details()})
    detail = error.details() or title
    if status == 502:
        detail = "a service failed while handling the request"
    headers = {"Retry-After": "1"} if status == 503 else None
    return problem(status, slug, title, detail, errors=_violations_from_rpc(error), headers=headers)


def from_domain_error(error: DomainError) -> JSONResponse:
    if isinstance(error, Unauthenticated):
        return problem(
            401, "unauthenticated", "Authentication required", error.message, headers={"WWW-Authenticate": "Bearer"}
        )
    if isinstance(error, AccountLocked):
        return problem(
            423, "account-locked", "Account locked", error.message, headers={"Retry-After": str(error.retry_after)}
        )
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


def _field_path(location: tuple[Any, ...]) -> str:
    """pydantic's location as the services name fields: ``items[0].quantity``."""
    path = ""
    for part in location:
        if part in ("body", "query", "path", "header"):
            continue
        path += f"[{part}]" if isinstance(part, int) else f".{part}" if path else str(part)
    return path or str(location[-1] if location else "body")


def install(app: FastAPI) -> None:
    """Register the handlers; every error response of the gateway is problem+json."""

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
        violations = [
            # Our own field checks raise ValueError, which pydantic words "Value error, <reason>": keep the reason.
            FieldViolation(_field_path(tuple(item["loc"])), str(item["msg"]).removeprefix("Value error, "))
            for item in error.errors()
        ]
        return problem(
            422,
            "invalid-argument",
            "The request has invalid fields",
            "; ".join(f"{v.field}: {v.reason}" for v in violations),
            errors=violations,
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        slug = {404: "not-found", 405: "method-not-allowed", 413: "payload-too-large"}.get(error.status_code, "error")
        return problem(error.status_code, slug, str(error.detail), str(error.detail), headers=error.headers)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, error: Exception) -> JSONResponse:
        _log.exception("unhandled error", extra={"path": request.url.path})
        return problem(500, "internal", "Internal error", "an unexpected error occurred; it has been logged")
