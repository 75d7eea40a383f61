"""Start-up of the order service: engine, customer-service channel, gRPC server, outbox relay, /metrics."""

from __future__ import annotations

import logging
from pathlib import Path

import grpc

from services.order.customers import CUSTOMER_SERVICE, CustomerDirectory
from services.order.deliveries import DeliveryService
from services.order.demo import apply_pending_seeds
from services.order.due import DueService
from services.order.legacy_orders import LegacyOrderService
from services.order.models import OUTBOX, SCHEMA
from services.order.price_lists import PriceLists
from services.order.service import OrderService
from services.order.servicer import SERVICE_NAME, registrar
from services.order.settings import OrderSettings
from services.platform import migrations
from services.platform.clock import Clock, taipei_date, utc_now
from services.platform.database import Database
from services.platform.grpc_client import open_channel
from services.platform.grpc_server import GrpcServer, create_server, serve_until_terminated
from services.platform.process import service_process

MIGRATIONS = Path(__file__).parent / "migrations"

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
    interceptors: list[grpc.aio.ServerInterceptor] | None = None,
) -> GrpcServer:
    """Start the gRPC server on ``port`` (settings' port when None; 0 for any free port)."""
    price_lists = PriceLists(database)
    orders = OrderService(database, customers, price_lists, clock=clock)
    return await create_server(
        registrar(
            orders,
            DeliveryService(database, clock=clock),
            DueService(database, customers, orders),
            price_lists,
            LegacyOrderService(database, price_lists),
        ),
        [SERVICE_NAME],
        host=settings.order_grpc_host,
        port=settings.order_grpc_port if port is None else port,
        interceptors=interceptors,
    )


async def serve(settings: OrderSettings) -> None:
    async with service_process("order", settings, metrics_port=settings.order_metrics_port, outbox=OUTBOX) as process:
        channel = open_channel(settings.customer_address, CUSTOMER_SERVICE)
        customers = CustomerDirectory(channel, deadline_seconds=settings.customer_deadline_seconds)
        process.run_in_background(apply_pending_seeds(process.database, customers, taipei_date(utc_now())), "seeds")
        try:
            running = await start(settings, process.database, customers, interceptors=process.interceptors())
            _log.info("order service listening", extra={"port": running.port})
            await serve_until_terminated(running, settings.shutdown_grace_seconds)
        finally:
            await channel.close()
