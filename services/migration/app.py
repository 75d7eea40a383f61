"""Start-up of migration-sync: its schema and the legacy tables, the gRPC server, change capture (legacy → new),
the consumers of customer and order events (new → legacy), the cutover controller, the scheduled reconcile."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path

import grpc
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from services.migration import legacy_digest
from services.migration.backfill import Backfill
from services.migration.customers import CUSTOMER_SERVICE, CustomerDirectory
from services.migration.cutover import CutoverController, cohort
from services.migration.legacy_digest import LegacyCustomerSide, LegacyDeliverySide
from services.migration.models import HANDLED_EVENTS, OUTBOX, SCHEMA
from services.migration.orders import ORDER_SERVICE, OrderBook, OrderServiceSide
from services.migration.reconcile import CustomerServiceSide, LegacySide, Side
from services.migration.service import TABLES, MigrationService
from services.migration.servicer import SERVICE_NAME, registrar
from services.migration.settings import MigrationSettings
from services.migration.sync import CUSTOMER_STREAM, GROUP, ORDER_STREAM, Sync
from services.platform import migrations
from services.platform.consumer import EventConsumer, consumer_name
from services.platform.database import Database
from services.platform.errors import FailedPrecondition, Unavailable
from services.platform.grpc_client import open_channel
from services.platform.grpc_server import GrpcServer, create_server, serve_until_terminated
from services.platform.process import service_process
from services.platform.zones import zone_names

MIGRATIONS = Path(__file__).parent / "migrations"
# How often the cutover controller compares the pilot flag's cohort with each customer's primary side.
CUTOVER_INTERVAL_SECONDS = 0.5

_log = logging.getLogger(__name__)


def migrate(settings: MigrationSettings) -> None:
    """The ``migration`` schema in the platform's database, and the legacy tables in the legacy database."""
    migrations.upgrade(MIGRATIONS, settings.database_url, SCHEMA)

    async def install() -> None:
        engine = create_async_engine(settings.legacy_database_url)
        try:
            await legacy_digest.install(engine)
        finally:
            await engine.dispose()

    asyncio.run(install())


@dataclass
class Parts:
    """Everything migration-sync runs, wired together; the caller owns the channels and the legacy engine."""

    service: MigrationService
    backfill: Backfill
    sync: Sync
    controller: CutoverController


def assemble(
    settings: MigrationSettings,
    database: Database,
    legacy: AsyncEngine,
    customers: CustomerDirectory,
    orders: OrderBook,
    cohort_of: Callable[[], frozenset[str] | None],
) -> Parts:
    zones = zone_names()
    backfill = Backfill(
        database,
        legacy,
        customers,
        orders,
        zones,
        batch_size=settings.backfill_batch_size,
        max_rows_per_second=settings.backfill_max_rows_per_second,
    )
    sync = Sync(database, legacy, customers, orders, zones, batch_size=settings.sync_batch_size)

    def sides(table: str, excluded: Collection[int]) -> tuple[LegacySide, Side]:
        if table == "customers":
            return LegacyCustomerSide(legacy, zones, excluded), CustomerServiceSide(customers.stub)
        return LegacyDeliverySide(legacy, excluded), OrderServiceSide(orders.stub)

    service = MigrationService(database, legacy, backfill, sync, sides)
    return Parts(service, backfill, sync, CutoverController(sync, cohort_of))


def consumers(redis: Redis, database: Database, sync: Sync, consumer_name: str) -> list[EventConsumer]:
    return [
        EventConsumer(
            redis,
            database,
            stream=stream,
            group=GROUP,
            consumer_name=consumer_name,
            handler=handler,
            handled_table=HANDLED_EVENTS,
        )
        for stream, handler in ((CUSTOMER_STREAM, sync.on_customer_event), (ORDER_STREAM, sync.on_order_event))
    ]


async def scheduled_reconcile(service: MigrationService, interval_seconds: float) -> None:
    while True:
        await asyncio.sleep(interval_seconds)
        for table in TABLES:
            try:
                await service.run_reconcile(table, repair=False, trigger="scheduled")
            except (FailedPrecondition, Unavailable, OSError) as error:
                _log.warning("scheduled reconcile of %s skipped: %s", table, error)


async def start(
    settings: MigrationSettings,
    parts: Parts,
    port: int | None = None,
    *,
    interceptors: list[grpc.aio.ServerInterceptor] | None = None,
) -> GrpcServer:
    """Serve on ``port`` (settings' port when None; 0 for any free port)."""
    return await create_server(
        registrar(parts.service),
        [SERVICE_NAME],
        host=settings.migration_grpc_host,
        port=settings.migration_grpc_port if port is None else port,
        interceptors=interceptors,
    )


async def serve(settings: MigrationSettings) -> None:
    async with service_process(
        "migration", settings, metrics_port=settings.migration_metrics_port, outbox=OUTBOX
    ) as process:
        legacy = create_async_engine(settings.legacy_database_url, pool_size=5, pool_pre_ping=True)
        customer_channel = open_channel(
            settings.customer_address, CUSTOMER_SERVICE, default_deadline=settings.downstream_deadline_seconds
        )
        order_channel = open_channel(
            settings.order_address, ORDER_SERVICE, default_deadline=settings.downstream_deadline_seconds
        )
        try:
            parts = assemble(
                settings,
                process.database,
                legacy,
                CustomerDirectory(customer_channel, deadline_seconds=settings.downstream_deadline_seconds),
                OrderBook(order_channel, deadline_seconds=settings.downstream_deadline_seconds),
                lambda: cohort(process.flags),
            )
            process.run_in_background(
                parts.sync.run_capture(settings.sync_idle_seconds, lambda: parts.backfill.running), "capture"
            )
            for consumer in consumers(process.redis, process.database, parts.sync, consumer_name("migration")):
                process.run_in_background(consumer.run(), consumer.stream)
            process.run_in_background(parts.controller.run(CUTOVER_INTERVAL_SECONDS), "cutover")
            if settings.reconcile_interval_seconds > 0:
                process.run_in_background(
                    scheduled_reconcile(parts.service, settings.reconcile_interval_seconds), "reconcile"
                )
            process.run_in_background(parts.backfill.resume_interrupted(), "resume-backfill")
            running = await start(settings, parts, interceptors=process.interceptors())
            _log.info("migration-sync listening", extra={"port": running.port})
            await serve_until_terminated(running, settings.shutdown_grace_seconds)
            await parts.backfill.stop()
        finally:
            await customer_channel.close()
            await order_channel.close()
            await legacy.dispose()
