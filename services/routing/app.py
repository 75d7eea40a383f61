"""Start-up of the routing service: engine, order and customer channels, travel times, gRPC server, relay."""

from __future__ import annotations

import logging
from pathlib import Path

import grpc
import httpx

from services.platform import migrations
from services.platform.clock import utc_now
from services.platform.consumer import EventConsumer, consumer_name
from services.platform.database import Database
from services.platform.grpc_client import open_channel
from services.platform.grpc_server import GrpcServer, create_server, serve_until_terminated
from services.platform.process import service_process
from services.routing.directory import CUSTOMER_SERVICE, ORDER_SERVICE, CustomerDirectory, OrderDirectory
from services.routing.fleet import FleetService
from services.routing.models import HANDLED_EVENTS, OUTBOX, SCHEMA
from services.routing.plan_changes import PlanChanges
from services.routing.planning import Clock
from services.routing.servicer import SERVICE_NAME, registrar
from services.routing.settings import RoutingSettings
from services.routing.stop_updates import (
    GROUP,
    ORDER_STREAM,
    TRACKING_STREAM,
    apply_order_event,
    apply_tracking_event,
)
from services.routing.travel import CircuitBreaker, OsrmTableProvider, StraightLineProvider, TravelTimeProvider

MIGRATIONS = Path(__file__).parent / "migrations"

_log = logging.getLogger(__name__)


def migrate(settings: RoutingSettings) -> None:
    migrations.upgrade(MIGRATIONS, settings.database_url, SCHEMA)


def travel_provider(settings: RoutingSettings, client: httpx.AsyncClient | None = None) -> TravelTimeProvider:
    """The road engine when one is configured, with the straight line as its fallback; else the straight line."""
    straight = StraightLineProvider(settings.detour_factor, settings.average_speed_kmh)
    if not settings.osrm_url:
        return straight
    return OsrmTableProvider(
        settings.osrm_url,
        timeout_seconds=settings.osrm_timeout_seconds,
        breaker=CircuitBreaker(),
        fallback=straight,
        client=client,
    )


async def start(
    settings: RoutingSettings,
    database: Database,
    orders: OrderDirectory,
    customers: CustomerDirectory,
    travel: TravelTimeProvider,
    port: int | None = None,
    *,
    clock: Clock = utc_now,
    interceptors: list[grpc.aio.ServerInterceptor] | None = None,
) -> GrpcServer:
    """Start the gRPC server on ``port`` (settings' port when None; 0 for any free port)."""
    planning = PlanChanges(database, orders, customers, travel, settings, clock=clock)
    return await create_server(
        registrar(FleetService(database), planning),
        [SERVICE_NAME],
        host=settings.routing_grpc_host,
        port=settings.routing_grpc_port if port is None else port,
        interceptors=interceptors,
    )


async def serve(settings: RoutingSettings) -> None:
    async with service_process(
        "routing", settings, metrics_port=settings.routing_metrics_port, outbox=OUTBOX
    ) as process:
        order_channel = open_channel(settings.order_address, ORDER_SERVICE)
        customer_channel = open_channel(settings.customer_address, CUSTOMER_SERVICE)
        for stream, handler in ((ORDER_STREAM, apply_order_event), (TRACKING_STREAM, apply_tracking_event)):
            consumer = EventConsumer(
                process.redis,
                process.database,
                stream=stream,
                group=GROUP,
                consumer_name=consumer_name("routing"),
                handler=handler,
                handled_table=HANDLED_EVENTS,
            )
            process.run_in_background(consumer.run(), f"{stream}-consumer")
        async with httpx.AsyncClient() as client:
            try:
                running = await start(
                    settings,
                    process.database,
                    OrderDirectory(order_channel, deadline_seconds=settings.call_deadline_seconds),
                    CustomerDirectory(customer_channel, deadline_seconds=settings.call_deadline_seconds),
                    travel_provider(settings, client),
                    interceptors=process.interceptors(),
                )
                _log.info("routing service listening", extra={"port": running.port})
                await serve_until_terminated(running, settings.shutdown_grace_seconds)
            finally:
                await order_channel.close()
                await customer_channel.close()
