"""Start-up of the tracking service: engine, Redis, gRPC server, outbox relay, route and order event consumers."""

from __future__ import annotations

import logging
from pathlib import Path

import grpc
from redis.asyncio import Redis

from services.platform import migrations
from services.platform.clock import Clock, utc_now
from services.platform.consumer import EventConsumer, consumer_name
from services.platform.database import Database
from services.platform.errors import Unavailable
from services.platform.grpc_server import GrpcServer, create_server, serve_until_terminated
from services.platform.process import service_process
from services.tracking.drivers import DriverService
from services.tracking.geo import StraightLineTravel
from services.tracking.live import LivePositions
from services.tracking.models import HANDLED_EVENTS, OUTBOX, SCHEMA
from services.tracking.positions import PositionService
from services.tracking.progress import ProgressService
from services.tracking.servicer import SERVICE_NAME, registrar
from services.tracking.settings import TrackingSettings
from services.tracking.stop_updates import GROUP, ORDER_STREAM, ROUTE_STREAM, apply_order_event, apply_route_event

MIGRATIONS = Path(__file__).parent / "migrations"

_log = logging.getLogger(__name__)


def migrate(settings: TrackingSettings) -> None:
    migrations.upgrade(MIGRATIONS, settings.database_url, SCHEMA)


def consumers(redis: Redis, database: Database, consumer_name: str, *, block_ms: int = 1000) -> list[EventConsumer]:
    """The consumers of route events (routes to watch) and order events (stops delivered, failed, cancelled)."""
    return [
        EventConsumer(
            redis,
            database,
            stream=stream,
            group=GROUP,
            consumer_name=consumer_name,
            handler=handler,
            handled_table=HANDLED_EVENTS,
            block_ms=block_ms,
        )
        for stream, handler in ((ROUTE_STREAM, apply_route_event), (ORDER_STREAM, apply_order_event))
    ]


def position_service(
    settings: TrackingSettings, database: Database, redis: Redis, *, clock: Clock = utc_now
) -> PositionService:
    travel = StraightLineTravel(settings.detour_factor, settings.average_speed_kmh)
    return PositionService(database, LivePositions(redis), travel, clock=clock)


async def start(
    settings: TrackingSettings,
    database: Database,
    redis: Redis,
    port: int | None = None,
    *,
    clock: Clock = utc_now,
    interceptors: list[grpc.aio.ServerInterceptor] | None = None,
) -> GrpcServer:
    """Start the gRPC server on ``port`` (settings' port when None; 0 for any free port)."""
    travel = StraightLineTravel(settings.detour_factor, settings.average_speed_kmh)
    return await create_server(
        registrar(
            DriverService(database, clock=clock),
            position_service(settings, database, redis, clock=clock),
            ProgressService(database, travel, clock=clock),
        ),
        [SERVICE_NAME],
        host=settings.tracking_grpc_host,
        port=settings.tracking_grpc_port if port is None else port,
        interceptors=interceptors,
    )


async def restore_live_positions(positions: PositionService) -> None:
    """Redis may have restarted empty: each driver's latest position comes back from Postgres (a later batch
    would put it right too, but a driver standing still sends none)."""
    try:
        restored = await positions.restore_live()
    except Unavailable:
        _log.warning("latest positions not restored: the database is unavailable")
        return
    _log.info("latest positions restored", extra={"moved_forward": restored})


async def serve(settings: TrackingSettings) -> None:
    async with service_process(
        "tracking", settings, metrics_port=settings.tracking_metrics_port, outbox=OUTBOX
    ) as process:
        for consumer in consumers(process.redis, process.database, consumer_name("tracking")):
            process.run_in_background(consumer.run(), consumer.stream)
        process.run_in_background(
            restore_live_positions(position_service(settings, process.database, process.redis)), "restore-live"
        )
        running = await start(settings, process.database, process.redis, interceptors=process.interceptors())
        _log.info("tracking service listening", extra={"port": running.port})
        await serve_until_terminated(running, settings.shutdown_grace_seconds)
