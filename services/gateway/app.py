"""The gateway's FastAPI application and process start-up."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import redis.asyncio as aioredis
from fastapi import Depends, FastAPI

from services.gateway import docs_page, openapi, problems
from services.gateway.context import GatewayContext
from services.gateway.faults import inject_fault
from services.gateway.live import LiveHub
from services.gateway.middleware import BodySizeLimit, Observability, SecurityHeaders
from services.gateway.routes import (
    auth,
    customers,
    flags,
    health,
    live,
    migration,
    orders,
    pilot,
    routing,
    tracking,
    users,
)
from services.gateway.schemas.common import refuse_control_characters
from services.gateway.settings import GatewaySettings
from services.platform import migrations
from services.platform.flags.local import FlagWatcher

MIGRATIONS = Path(__file__).parent / "migrations"
SCHEMA = "gateway"
# The REST API, where fault.gateway may inject faults; then routes it never touches (probes, /metrics, live).
API_ROUTERS = (
    auth.router,
    users.router,
    customers.router,
    orders.router,
    routing.fleet_router,
    routing.plans_router,
    routing.driver_router,
    tracking.driver_router,
    tracking.office_router,
    flags.router,
    flags.customer_router,
    pilot.router,
    migration.router,
)
PLUMBING_ROUTERS = (live.router, health.router)
# What the live feed carries: order and delivery events, routes published and updated, stops arrived at
# (docs/events.md); a client resumes with one cursor per stream.
LIVE_STREAMS = ("events.order", "events.route", "events.tracking")


def migrate(settings: GatewaySettings) -> None:
    migrations.upgrade(MIGRATIONS, settings.database_url, SCHEMA)


def create_app(settings: GatewaySettings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        context = GatewayContext.open(settings)
        app.state.gateway = context
        # Its own connection: XREAD blocks, which must not share the short timeouts of request traffic.
        feed_redis = aioredis.from_url(settings.redis_url, socket_connect_timeout=1, socket_timeout=10)
        app.state.live = LiveHub(feed_redis, LIVE_STREAMS)
        await app.state.live.start()
        # Flags in-process, like every service: fail static when the flag service or Redis is away.
        watcher = FlagWatcher(context.flag_store, settings.flags_address, watcher="gateway", redis=feed_redis)
        watcher.start()
        try:
            yield
        finally:
            await watcher.stop()
            await app.state.live.stop()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(feed_redis.aclose(), 2.0)
            await context.close()

    app = FastAPI(
        title="Lucky Gas platform API",
        version="1.0.0",
        description=openapi.DESCRIPTION,
        lifespan=lifespan,
        generate_unique_id_function=openapi.operation_id,
        docs_url=None,
        redoc_url=None,
        # FastAPI's own server span continues the caller's trace; its per-operation spans, OpenTelemetry
        # metrics and log events are left off: Prometheus metrics and JSON logs come from our middleware.
        telemetry={"tracing": True, "metrics": False, "logs": False, "operation_spans": False},
    )
    problems.install(app)
    openapi.document(app, [*API_ROUTERS, *PLUMBING_ROUTERS])
    docs_page.install(app)
    for router in API_ROUTERS:
        app.include_router(router, dependencies=[Depends(refuse_control_characters), Depends(inject_fault)])
    for router in PLUMBING_ROUTERS:
        app.include_router(router)
    app.add_middleware(
        BodySizeLimit,
        max_bytes=settings.max_body_bytes,
        larger=[
            (r"/api/v1/orders/[^/]+/delivery", settings.max_delivery_body_bytes),
            (r"/api/v1/drivers/me/stops/[^/]+/delivered", settings.max_delivery_body_bytes),
            (r"/api/v1/drivers/me/positions", settings.max_positions_body_bytes),
        ],
    )
    app.add_middleware(SecurityHeaders)
    app.add_middleware(Observability, access_log_enabled=settings.access_log)
    return app
