"""Start-up of the order service: engine, customer-service channel, gRPC server, outbox relay, /metrics."""

from __future__ import annotations

import asyncio
import logging
from contextlib import suppress
from pathlib import Path

from redis.asyncio import Redis

from services.order.customers import CUSTOMER_SERVICE, CustomerDirectory
from services.order.deliveries import DeliveryService
from services.order.demo import apply_pending_seeds
from services.order.due import DueService
from services.order.models import OUTBOX, SCHEMA
from services.order.price_lists import PriceLists
from services.order.service import Clock, OrderService, taipei_date, utc_now
from services.order.servicer import SERVICE_NAME, registrar
from services.order.settings import OrderSettings
from services.platform import migrations
from services.platform.database import Database, create_engine
from services.platform.errors import Unavailable
from services.platform.grpc_client import open_channel
from services.platform.grpc_server import GrpcServer, create_server, serve_until_terminated
from services.platform.outbox import OutboxRelay
from services.platform.telemetry import configure_logging, configure_tracing, start_metrics_endpoint

MIGRATIONS = Path(__file__).parent / "migrations"
# After the server has drained, how long the relay may spend publishing what the last calls committed.
FINAL_PUBLISH_SECONDS = 2.0

_log = logging.getLogger(__name__)


def migrate(settings: OrderSettings) -> None:
    migrations.upgrade(MIGRATIONS, settings.database_url, SCHEMA)


async def start(
    settings: OrderSettings,
    database: Database,
    customers: CustomerDirectory,
    port: int | None = None,
    *,
    clock: Clock = utc_now,
) -> GrpcServer:
    """Start the gRPC server on ``port`` (settings' port when None; 0 for any free port)."""
    price_lists = PriceLists(database)
    orders = OrderService(database, customers, price_lists, clock=clock)
    return await create_server(
        registrar(orders, DeliveryService(database, clock=clock), DueService(database, customers, orders), price_lists),
        [SERVICE_NAME],
        host=settings.order_grpc_host,
        port=settings.order_grpc_port if port is None else port,
    )


async def serve(settings: OrderSettings) -> None:
    configure_logging("order", settings.log_level)
    tracer_provider = configure_tracing("order")
    start_metrics_endpoint(settings.order_metrics_port)
    database = Database(
        create_engine(settings.database_url, pool_size=settings.database_pool_size, application_name="order")
    )
    channel = open_channel(settings.customer_address, CUSTOMER_SERVICE)
    customers = CustomerDirectory(channel, deadline_seconds=settings.customer_deadline_seconds)
    redis = Redis.from_url(settings.redis_url, socket_timeout=5, socket_connect_timeout=2)
    relay = OutboxRelay(database, OUTBOX, redis)
    background = [
        asyncio.create_task(relay.run(), name="order-outbox-relay"),
        asyncio.create_task(apply_pending_seeds(database, customers, taipei_date(utc_now())), name="order-seeds"),
    ]
    try:
        running = await start(settings, database, customers)
        _log.info("order service listening", extra={"port": running.port})
        await serve_until_terminated(running, settings.shutdown_grace_seconds)
    finally:
        for task in background:
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task
        # Events left over are not lost (the next relay publishes them); this only makes them prompt.
        with suppress(Unavailable, TimeoutError):
            await asyncio.wait_for(relay.publish_pending(), FINAL_PUBLISH_SECONDS)
        await channel.close()
        await redis.aclose()
        await database.dispose()
        tracer_provider.shutdown()
