"""Liveness, readiness and metrics of the gateway process."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from grpc_health.v1 import health_pb2, health_pb2_grpc
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from services.gateway import problems
from services.gateway.context import GatewayContext, get_context

router = APIRouter(tags=["health"])

Context = Annotated[GatewayContext, Depends(get_context)]
CHECK_TIMEOUT = 1.0


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """Alive: the process answers. Never depends on anything else."""
    return {"status": "ok"}


async def _database(context: GatewayContext) -> bool:
    return await context.database.ping()


async def _redis(context: GatewayContext) -> bool:
    return bool(await context.redis.ping())


async def _serving(health: health_pb2_grpc.HealthStub) -> bool:
    reply = await health.Check(health_pb2.HealthCheckRequest(service=""), timeout=CHECK_TIMEOUT)
    return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)


async def _customer(context: GatewayContext) -> bool:
    return await _serving(context.customer_health)


async def _order(context: GatewayContext) -> bool:
    return await _serving(context.order_health)


async def _flags(context: GatewayContext) -> bool:
    return await _serving(context.flag_health)


async def _routing(context: GatewayContext) -> bool:
    return await _serving(context.routing_health)


async def _tracking(context: GatewayContext) -> bool:
    return await _serving(context.tracking_health)


async def _run_checks(
    context: GatewayContext, checks: dict[str, Callable[[GatewayContext], Awaitable[bool]]]
) -> dict[str, str]:
    async def run(check: Callable[[GatewayContext], Awaitable[bool]]) -> str:
        try:
            ok = await asyncio.wait_for(check(context), CHECK_TIMEOUT)
        except Exception:  # noqa: BLE001 - any failure means not ready
            return "unavailable"
        return "ok" if ok else "unavailable"

    return dict(zip(checks, await asyncio.gather(*(run(check) for check in checks.values())), strict=True))


# The gateway's own dependencies decide whether it takes traffic. The services it calls are reported but do not:
# with one service down every gateway would otherwise leave the load balancer together, taking the routes that
# still work with them, while each request to the missing service already fails fast with a 503 of its own.
OWN_CHECKS: dict[str, Callable[[GatewayContext], Awaitable[bool]]] = {"database": _database, "redis": _redis}
SERVICE_CHECKS: dict[str, Callable[[GatewayContext], Awaitable[bool]]] = {
    "customer": _customer,
    "order": _order,
    "routing": _routing,
    "tracking": _tracking,
    "flags": _flags,
}


@router.get("/readyz", responses=problems.documented(503))
async def readyz(context: Context) -> JSONResponse:
    """Ready when the gateway's own dependencies (its database and Redis) answer; the services it calls are
    reported under ``services`` without deciding."""
    own, services = await asyncio.gather(_run_checks(context, OWN_CHECKS), _run_checks(context, SERVICE_CHECKS))
    ready = all(value == "ok" for value in own.values())
    return JSONResponse(
        {"status": "ready" if ready else "not ready", "checks": own, "services": services},
        status_code=200 if ready else 503,
    )


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    # ``?name[]=...`` picks metrics by name, as the services' own /metrics servers (prometheus_client) allow.
    """Prometheus metrics of the gateway (requests, latencies, unexpected errors), in the text exposition format."""
    names = request.query_params.getlist("name[]")
    registry = REGISTRY.restricted_registry(names) if names else REGISTRY
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
