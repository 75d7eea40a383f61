"""Server interceptors every gRPC service installs: tracing, metrics, access logs, domain-error mapping."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind, Status, StatusCode
from prometheus_client import Counter, Histogram

from services.platform.errors import (
    AlreadyExists,
    DomainError,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Unavailable,
    VersionConflict,
)
from services.platform.input_limits import message_violations

VIOLATIONS_METADATA_KEY = "luckygas-field-violations"

_STATUS_BY_ERROR: list[tuple[type[DomainError], grpc.StatusCode]] = [
    (VersionConflict, grpc.StatusCode.ABORTED),  # before its base class FailedPrecondition
    (NotFound, grpc.StatusCode.NOT_FOUND),
    (AlreadyExists, grpc.StatusCode.ALREADY_EXISTS),
    (InvalidArgument, grpc.StatusCode.INVALID_ARGUMENT),
    (FailedPrecondition, grpc.StatusCode.FAILED_PRECONDITION),
    (PermissionDenied, grpc.StatusCode.PERMISSION_DENIED),
    (Unavailable, grpc.StatusCode.UNAVAILABLE),
]

RPC_HANDLED = Counter(
    "luckygas_grpc_server_handled_total",
    "RPCs completed by a gRPC server, by method and status code.",
    ["service", "method", "code"],
)
RPC_SECONDS = Histogram(
    "luckygas_grpc_server_handling_seconds",
    "Time a gRPC server spent on an RPC.",
    ["service", "method"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)

access_log = logging.getLogger("luckygas.access")
_log = logging.getLogger(__name__)

UnaryBehaviour = Callable[[Any, grpc.aio.ServicerContext], Awaitable[Any]]


def status_for(error: DomainError) -> grpc.StatusCode:
    for error_type, code in _STATUS_BY_ERROR:
        if isinstance(error, error_type):
            return code
    return grpc.StatusCode.UNKNOWN


def _split_method(full_method: str) -> tuple[str, str]:
    service, _, method = full_method.lstrip("/").rpartition("/")
    return service, method


def _final_code(context: grpc.aio.ServicerContext, cancelled: bool = False) -> grpc.StatusCode:
    """The status the caller got. A handler cancelled under us means the caller gave up: its deadline passed
    (DEADLINE_EXCEEDED) or it went away (CANCELLED); context.code() still says nothing was set then."""
    if cancelled:
        remaining = context.time_remaining()
        return (
            grpc.StatusCode.DEADLINE_EXCEEDED if remaining is not None and remaining <= 0 else grpc.StatusCode.CANCELLED
        )
    code = context.code()
    if isinstance(code, grpc.StatusCode):
        return code
    return grpc.StatusCode.OK if code in (None, 0) else grpc.StatusCode.UNKNOWN


class _Call:
    """Runs one RPC's handler and remembers whether it was cancelled, so ``code`` is what the caller got."""

    def __init__(self, context: grpc.aio.ServicerContext) -> None:
        self.context = context
        self.cancelled = False

    async def run(self, behaviour: UnaryBehaviour, request: Any) -> Any:
        try:
            return await behaviour(request, self.context)
        except asyncio.CancelledError:
            self.cancelled = True
            raise

    @property
    def code(self) -> grpc.StatusCode:
        return _final_code(self.context, self.cancelled)


class _UnaryInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """Wraps unary-unary handlers; streaming handlers pass through unchanged until a service needs them."""

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        if handler is None or handler.unary_unary is None:
            return handler
        wrapped = self.wrap(handler.unary_unary, handler_call_details)
        return grpc.unary_unary_rpc_method_handler(
            wrapped,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )

    def wrap(self, behaviour: UnaryBehaviour, details: grpc.HandlerCallDetails) -> UnaryBehaviour:
        raise NotImplementedError


class ErrorMappingInterceptor(_UnaryInterceptor):
    """The one place domain errors become gRPC status codes; anything unexpected is INTERNAL and logged."""

    def wrap(self, behaviour: UnaryBehaviour, details: grpc.HandlerCallDetails) -> UnaryBehaviour:
        async def handle(request: Any, context: grpc.aio.ServicerContext) -> Any:
            try:
                return await behaviour(request, context)
            except DomainError as error:
                trailing: tuple[tuple[str, str], ...] = ()
                if error.violations:
                    violations = [{"field": v.field, "reason": v.reason} for v in error.violations]
                    trailing = ((VIOLATIONS_METADATA_KEY, json.dumps(violations, ensure_ascii=True)),)
                await context.abort(status_for(error), error.message, trailing_metadata=trailing)
            except grpc.aio.AbortError:
                raise
            except Exception:  # noqa: BLE001 - the last line of defence: log it, answer INTERNAL
                _log.exception("unhandled error in %s", details.method)
                await context.abort(grpc.StatusCode.INTERNAL, "internal error")

        return handle


class RequestLimitsInterceptor(_UnaryInterceptor):
    """Refuses a request holding what no service can take (control characters, text past any column, NaN, infinite
    or absurd numbers, impossible timestamps, JSON nested past reason) before the handler sees it: INVALID_ARGUMENT
    naming each field, so it can never reach the database as an error. Every service is reachable from inside the
    cluster without the gateway's checks (services/platform/input_limits.py)."""

    def wrap(self, behaviour: UnaryBehaviour, details: grpc.HandlerCallDetails) -> UnaryBehaviour:
        async def handle(request: Any, context: grpc.aio.ServicerContext) -> Any:
            if violations := message_violations(request):
                raise InvalidArgument.from_violations(violations)
            return await behaviour(request, context)

        return handle


class MetricsInterceptor(_UnaryInterceptor):
    def wrap(self, behaviour: UnaryBehaviour, details: grpc.HandlerCallDetails) -> UnaryBehaviour:
        service, method = _split_method(details.method)
        seconds = RPC_SECONDS.labels(service, method)

        async def handle(request: Any, context: grpc.aio.ServicerContext) -> Any:
            started = time.perf_counter()
            call = _Call(context)
            try:
                return await call.run(behaviour, request)
            finally:
                seconds.observe(time.perf_counter() - started)
                RPC_HANDLED.labels(service, method, call.code.name).inc()

        return handle


class TracingInterceptor(_UnaryInterceptor):
    """A server span per RPC, continuing the caller's W3C trace context from the metadata."""

    def wrap(self, behaviour: UnaryBehaviour, details: grpc.HandlerCallDetails) -> UnaryBehaviour:
        service, method = _split_method(details.method)
        tracer = trace.get_tracer("luckygas.grpc")

        async def handle(request: Any, context: grpc.aio.ServicerContext) -> Any:
            carrier = {key: value for key, value in (context.invocation_metadata() or ()) if isinstance(value, str)}
            with tracer.start_as_current_span(
                details.method.lstrip("/"),
                context=propagate.extract(carrier),
                kind=SpanKind.SERVER,
                attributes={"rpc.system": "grpc", "rpc.service": service, "rpc.method": method},
            ) as span:
                call = _Call(context)
                try:
                    return await call.run(behaviour, request)
                finally:
                    code = call.code
                    span.set_attribute("rpc.grpc.status_code", code.value[0])
                    if code not in (grpc.StatusCode.OK,):
                        span.set_status(Status(StatusCode.ERROR, code.name))

        return handle


class AccessLogInterceptor(_UnaryInterceptor):
    def wrap(self, behaviour: UnaryBehaviour, details: grpc.HandlerCallDetails) -> UnaryBehaviour:
        async def handle(request: Any, context: grpc.aio.ServicerContext) -> Any:
            started = time.perf_counter()
            call = _Call(context)
            try:
                return await call.run(behaviour, request)
            finally:
                code = call.code
                access_log.info(
                    "rpc",
                    extra={
                        "rpc_method": details.method,
                        "grpc_code": code.name,
                        "duration_ms": round((time.perf_counter() - started) * 1000, 3),
                        "peer": context.peer(),
                    },
                )

        return handle


def standard_interceptors(*innermost: grpc.aio.ServerInterceptor) -> list[grpc.aio.ServerInterceptor]:
    """Outermost first: the span covers everything; errors are mapped before metrics and logs read the code; a
    request past the platform's limits is refused inside the error mapping, before any handler.

    ``innermost`` (e.g. fault injection) run closest to the handler, so traces and metrics include them.
    """
    return [
        TracingInterceptor(),
        MetricsInterceptor(),
        AccessLogInterceptor(),
        ErrorMappingInterceptor(),
        RequestLimitsInterceptor(),
        *innermost,
    ]
